// The `stats` event's keys for the engine's counters, in one place with the rest of that event
// (`outputs`, added by the pipeline): the engine fills in plain counters (`EngineStats`), the
// JSON schema (docs/schema/stats.schema.json) is written here.
import Engine
import MailAuth
import Reassembly
import Wire

extension EngineStats {
    /// Ordered counters for the `stats` event.
    public func fields() -> [StatField] {
        let layers = DecodeLayer.allCases
        let r = reassembly
        return [
            StatField("packets", packets),
            StatField("bytes", bytes),
            StatField("tcp_packets", tcpPackets),
            StatField("not_mail_port", notMailPort),
            StatField("skipped", .object(SkipReason.allCases.map { StatField($0.rawValue, skipped[$0, default: 0]) })),
            StatField("decode_errors", .object([
                StatField("truncated", .object(layers.map { StatField($0.rawValue, truncated[$0, default: 0]) })),
                StatField("invalid", .object(layers.map { StatField($0.rawValue, invalid[$0, default: 0]) })),
            ])),
            StatField("flows", .object([
                StatField("created", UInt64(r.flowsCreated)),
                StatField("midstream", UInt64(r.flowsMidstream)),
                StatField("ignored", flowsIgnored),
                StatField("closed", .object(CloseReason.allCases.map {
                    StatField($0.rawValue, UInt64(r.flowsClosedByReason[$0]))
                })),
                StatField("packets_without_flow", UInt64(r.packetsWithoutFlow)),
                StatField("evicted_with_data", UInt64(r.evictedWithData)),
            ])),
            StatField("reassembly", .object([
                StatField("retransmitted_segments", UInt64(r.retransmittedSegments)),
                StatField("retransmitted_bytes", UInt64(r.retransmittedBytes)),
                StatField("out_of_order_segments", UInt64(r.outOfOrderSegments)),
                StatField("overlap_conflict_bytes", UInt64(r.overlapConflictBytes)),
                StatField("gaps", UInt64(r.gaps)),
                StatField("gap_bytes", UInt64(r.gapBytes)),
                StatField("window_overflows", UInt64(r.windowOverflows)),
                StatField("hole_limit_hits", UInt64(r.holeLimitHits)),
                StatField("memory_budget_hits", UInt64(r.memoryBudgetHits)),
                StatField("peak_buffered_bytes", UInt64(r.peakBufferedBytes)),
                StatField("retransmission_conflicts", r.retransmissionConflicts),
                // The checksum failures are stream events too (Suricata counts them there), though
                // the engine's checksum gate counts them, before the flow table sees the segment.
                StatField("events", .object(r.events.named.map { StatField($0.name, $0.count) } + [
                    StatField("ipv4_checksum_invalid", checksums.ipv4Invalid),
                    StatField("tcp_checksum_invalid", checksums.tcpInvalid),
                ])),
            ])),
            StatField("encapsulation", .object(EncapsulationKind.allCases.map {
                StatField($0.name, encapsulations[$0])
            } + [StatField("tunnels_truncated", tunnelsTruncated)])),
            StatField("fragments", .object([
                StatField("received", fragments.fragments),
                StatField("reassembled", fragments.reassembled),
                StatField("timed_out", fragments.timedOut),
                StatField("overlaps", fragments.overlaps),
                StatField("overlap_conflicts", fragments.overlapConflicts),
                StatField("discarded", fragments.discarded),
                StatField("invalid", fragments.invalid),
                StatField("memory_budget_hits", fragments.memoryBudgetHits),
                StatField("evicted", fragments.evicted),
                StatField("peak_bytes", fragments.peakBytes),
            ])),
            StatField("sessions", .object(MailProtocol.allCases.map { StatField($0.rawValue, sessions[$0, default: 0]) }
                + [StatField("starttls_upgraded", sessionsEncrypted)])),
            StatField("parser_anomalies", parserAnomalies),
            StatField("parser_anomaly_kinds", .object(MailProtocol.allCases.map { proto in
                StatField(proto.rawValue, .object(ParserAnomaly.allCases.map {
                    StatField($0.name, parserAnomalyKinds[proto, $0])
                }))
            })),
            StatField("parser_memory", .object([
                StatField("budget_hits", parserMemoryBudgetHits),
                StatField("peak_bytes", parserMemoryPeak),
            ])),
            StatField("alerts", alerts),
            StatField("alerts_suppressed", alertsSuppressed),
            StatField("checksums", .object(checksums.fields())),
        ]
    }
}

extension ChecksumStats {
    func fields() -> [StatField] {
        [StatField("mode", .word(mode.rawValue)),
         StatField("ipv4_invalid", ipv4Invalid),
         StatField("tcp_invalid", tcpInvalid),
         StatField("accepted_on_ack", acceptedOnAck),
         StatField("accepted_unverified", acceptedUnverified),
         StatField("tcp_validation_disabled_by_offload", disabledByOffload ? 1 : 0)]
    }
}
