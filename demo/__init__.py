"""The scripted demonstration: a two-site network of patients driven through the public APIs."""
