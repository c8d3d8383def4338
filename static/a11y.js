/* Voice: give CodeMirror's hidden input a name screen readers announce.
   Loaded with defer, so it runs before Datasette's window.onload builds the
   SQL editor; without JavaScript the plain textarea keeps its own label. */
if (window.CodeMirror) {
    window.CodeMirror.defaults.screenReaderLabel = "SQL query";
}
