# Alert rules checked by Prometheus's own engine (needs promtool: Debian package "prometheus").
.PHONY: test-alert-rules
TEST_TARGETS += test-alert-rules
test-alert-rules:
	nice -n 10 go test -tags promtool ./components/observability/ -run TestAlertExpressionsFireOnlyOnBreach
