"""Learning analytics (issue 18): AnalyticsFunction's rollups in analytics.*, its reporting API and
the time-on-task heartbeat. docs/analytics.md."""
