# ngram/: count-based models (issue 3).
