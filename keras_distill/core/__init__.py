"""The ground floor: small helpers every other package may use; imports nothing above it."""
