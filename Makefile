# Short names for the scripts (each sets up what it needs).
.PHONY: demo test bench

demo:
	scripts/demo.sh

test:
	scripts/test.sh

bench:
	scripts/setup.sh test
	.venv/bin/nnmodel bench --train
