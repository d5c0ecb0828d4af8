"""Studies: how noisy the gates are, and deliberately damaged backends that prove their teeth."""
