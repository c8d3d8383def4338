"""The analysis stage: pure decisions about posts.

It owns what Voice decides about a post once it is parsed: which entry of
its feed it is and its canonical URL, whether it is a copy of a post from
another feed, and which topics it is about. Nothing here does I/O, reads a
clock or touches the database, so every decision is tested without network,
clock or database; the parse workers and the store call in with plain values.

- `identity`: entry keys within a feed, content and title keys, moved-GUID
  matching.
- `urls`: canonical URLs, a post's address as a comparison key.
- `evidence`: the link a copy gives to its original ("Originally published at",
  rel=canonical).
- `sketch`: shingles, MinHash signature and LSH band keys, computed per post in
  the parse workers.
- `hashing`: the shingle hashes and the MinHash arithmetic behind `sketch`, on
  numpy arrays, giving the values they were first defined to give.
- `fingerprints`: what deduplication knows about one post (its Fingerprint, built
  by one constructor for the store and the tests) and its index keys.
- `similarity`: the cross-feed duplicate rules, their thresholds and guards, and
  the canonical post of a cluster.
- `framing`: whether one text is the whole of another with only an intro or an
  outro around it, read in order ("framed").
- `bylines`: what two posts' author fields say about who wrote them.
- `titles`: what a title says: series numbers, a round-up's " – Blog name"
  suffix, a newsletter's issue label.
- `vocabulary`: the topics of topics.yaml, their checks, lookup indexes and version.
- `words`: tokens, stems and category keys, shared by the vocabulary and tagging.
- `tagging`: scoring a post against the vocabulary and assigning its topics.
- `topic_model`: the trained model that weighs the rules' evidence and the words
  learned from the labelled set (aggregator/analysis/topic_model.json).
- `topic_training`: how `voice train-topics` builds that model from the
  development part, with cross-validation grouped by blog.
- `excerpt`: the excerpt stored for a blog whose member chose excerpts only.
"""
