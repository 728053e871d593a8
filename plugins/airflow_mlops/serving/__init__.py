"""Online serving: the scoring API, model loading and the prediction log."""
