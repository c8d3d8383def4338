"""The registry stage: the files people edit, read and checked; the only user of ruamel.yaml.

- `feeds`: feeds.yaml (member blogs and settings) validated into a Registry,
  every problem with its file and line; demo registries' `{base}`.
- `topics`: topics.yaml, the topic vocabulary, with the same kind of errors.
- `edit`: atomic, comment-preserving edits of feeds.yaml (add, update,
  remove, redirects), written by `atomic` with comments kept by `yamlcomments`.
- `regions`: region names in any case, and "did you mean" for a near miss.
- `sameblog`: whether a blog is registered under any of its addresses.
- `site`: where metadata.yml, plugins/, topics.yaml and demo/ are found.
- `yamlsafe`: those files' YAML loaded within limits, or a one-line reason;
  members' values cut short in messages.
"""
