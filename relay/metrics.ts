/** Counters and gauges, rendered as Prometheus text at /metrics. */
export class Metrics {
  readonly counters = {
    frames_in_total: 0,
    frame_bytes_in_total: 0,
    /** Deliveries = frames published x subscribers at the time. */
    frames_delivered_total: 0,
    frame_bytes_delivered_total: 0,
    frames_rejected_total: 0,
    control_messages_total: 0,
    bad_messages_total: 0,
    rate_limited_total: 0,
    agent_resyncs_total: 0,
    slow_agents_closed_total: 0,
    snapshot_requests_total: 0,
    upgrades_refused_total: 0,
    /** Visitor sockets shed by admission (connect storm): closed 4503 with a retry-after. */
    visitors_shed_total: 0,
    http_requests_total: 0,
    http_auth_failures_total: 0,
    /** Scrypt runs verifying secret keys (bounded per address by API_AUTH_FAILURES_PER_MIN). */
    scrypt_runs_total: 0,
    metadata_writes_total: 0,
    metadata_write_failures_total: 0,
    metadata_dropped_total: 0,
    metadata_late_writes_total: 0,
    metadata_late_writes_erased_total: 0,
    visitors_deleted_total: 0,
    visitors_expired_total: 0,
    /** Consent or control answers with no pending request to answer: ignored, nothing written. */
    unrequested_answers_ignored_total: 0,
    /** Client-caused actions refused because an activity budget was spent or the log was backlogged. */
    activity_refused_total: 0,
    log_lines_suppressed_total: 0,
  };
  readonly gauges = {
    visitor_sockets: 0,
    agent_sockets: 0,
    agents_lagging: 0,
    agent_buffered_bytes: 0,
    metadata_pending_visitors: 0,
    metadata_pending_activity: 0,
    metadata_abandoned_writes: 0,
  };

  render(extra: Record<string, number> = {}): string {
    const lines: string[] = [];
    for (const [name, value] of Object.entries(this.counters)) {
      lines.push(`# TYPE cobrowse_${name} counter`, `cobrowse_${name} ${value}`);
    }
    for (const [name, value] of Object.entries({ ...this.gauges, ...extra })) {
      lines.push(`# TYPE cobrowse_${name} gauge`, `cobrowse_${name} ${value}`);
    }
    return lines.join('\n') + '\n';
  }
}
