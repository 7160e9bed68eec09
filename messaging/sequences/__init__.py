"""Step sequences: enrolment, steps and exits."""
