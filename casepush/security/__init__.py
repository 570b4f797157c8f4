"""Identities, password hashing and Kibana's feature privileges."""
