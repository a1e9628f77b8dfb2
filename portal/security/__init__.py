"""Passwords, one-time codes, tokens and cryptography. Imports neither Flask nor the models."""
