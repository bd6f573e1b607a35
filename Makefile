# Thin wrapper around bin/course (which installs the environment once).
.PHONY: lab test release autograde run sync bench

PROFILE ?= ci
NB ?=

lab:
	bin/course lab

test:
	bin/course test

release:
	bin/course release

autograde:  # make autograde LAB=partie-02-entropie SUBMISSIONS=copies/
	bin/course autograde $(LAB) $(SUBMISSIONS)

run:  # make run PROFILE=gpu NB=partie-02/04-theorie-information.ipynb
	bin/course run --profile $(PROFILE) $(NB)

sync:
	bin/course sync

bench:
	.venv/bin/python benchmarks/grading.py
