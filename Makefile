# The two commands: `make dev` (the local world) and `make test` (every check CI runs).
.PHONY: dev test test-repeat bench bench-refresh bench-init bench-rollout bench-events

dev:
	@bash scripts/dev.sh

test:
	@bash scripts/test.sh

test-repeat:
	@N=$(or $(N),10) LOAD=$(or $(LOAD),0) bash scripts/test_repeat.sh

bench:
	@bash scripts/bench.sh

bench-refresh:
	@bash scripts/bench_refresh.sh

# One rollout to 1,000 mini programs (README, "Rollouts").
bench-rollout:
	@bash scripts/bench_rollout.sh

# 10,000 message-URL pushes stored and published (README, "Events at scale").
bench-events:
	@bash scripts/bench_events.sh

# Init time of every function beside the smallest lambda_http function (README, "Init time").
bench-init:
	@bash scripts/bench_init.sh
