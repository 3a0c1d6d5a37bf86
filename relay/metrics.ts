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
    /** Of those, shed because their address was over its share (ADMISSIONS_PER_SEC_PER_IP). */
    visitors_shed_by_address_total: 0,
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
    // Cluster mode (docs/cluster.md); all zero when NATS_URL is unset.
    cluster_envelopes_in_total: 0,
    /** Malformed envelopes or chunks from NATS: dropped. */
    cluster_bad_messages_total: 0,
    /** Frames sent to watching relays (once per relay, not per agent), and their bytes. */
    cluster_frames_out_total: 0,
    cluster_frame_bytes_out_total: 0,
    cluster_frames_in_total: 0,
    /** Frames not sent to a watching relay (NATS down, or CLUSTER_MAX_PENDING_BYTES reached): its agents resync. */
    cluster_frames_dropped_total: 0,
    cluster_messages_dropped_total: 0,
    /** Chunks of incomplete frames dropped on arrival (a gap): the topic's agents resync. */
    cluster_chunks_dropped_total: 0,
    cluster_presence_write_failures_total: 0,
    /** A closed tab's delete found the key rewritten (the tab reopened): left alone. */
    cluster_presence_withdraw_superseded_total: 0,
    /** Runs of the consent refresh (keep-alive of this relay's visitors' consents, sweep of expired ones). */
    cluster_consent_refreshes_total: 0,
    /** Lookup codes issued without a cluster-wide claim (NATS unreachable). */
    cluster_code_claims_unchecked_total: 0,
  };
  readonly gauges = {
    visitor_sockets: 0,
    agent_sockets: 0,
    agents_lagging: 0,
    agent_buffered_bytes: 0,
    metadata_pending_visitors: 0,
    metadata_pending_activity: 0,
    metadata_abandoned_writes: 0,
    cluster_nats_connected: 0,
    /** Other relays' tabs in this relay's directory replica. */
    cluster_presence_tabs: 0,
    /** This relay's directory writes (tab puts and deletes) queued, and sent but not yet answered (≤ 1024). */
    cluster_presence_writes_queued: 0,
    cluster_presence_writes_in_flight: 0,
    /** Bytes published to NATS not yet confirmed by a flush (capped by CLUSTER_MAX_PENDING_BYTES). */
    cluster_unconfirmed_bytes: 0,
    /** Bytes held for frames being reassembled (at most one frame per source relay). */
    cluster_reassembly_bytes: 0,
    /** Agents of other relays acting in sessions of this relay's visitors. */
    cluster_remote_agents: 0,
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
