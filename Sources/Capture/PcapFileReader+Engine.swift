import Engine
import Wire

extension PcapFileReader {
    /// Reads every record into `engine` in batches, each with its own link type: the loop that
    /// `plainsight -r` runs on each file, here so that tests drive the loop the binary runs.
    /// `onTick` runs after every `tickInterval` records (progress, `stop()`). Returns how the read
    /// ended and the time of the last frame fed; does not call `engine.finish`. A file other than
    /// a native pcapng one must have a supported link type (`supportedLinkType()`), or the read
    /// ends at once with an error.
    public func feed(_ engine: Engine, tickInterval: UInt64 = 4096,
                     onTick: () -> Void = {}) -> (end: ReadEnd, lastTime: Timestamp?) {
        var last: Timestamp?
        // Safe: `records` is lent for the call with `frames`, and the engine checks each record against `frames.count`.
        let end = unsafe readLinkBatches(tickInterval: tickInterval, onTick: onTick) { frames, records, link in
            unsafe engine.process(frames: frames, records: records, link: link)
            if let record = unsafe records.last { last = record.time }
        }
        return (end, last)
    }

    /// Reads every record into `engine` frame by frame, as live capture hands frames over, to
    /// compare that path with `feed`'s batches. `link` is the file's link type; a pcapng file read
    /// natively (`linkTypePerRecord`) gives each record its interface's instead.
    public func feedFrameByFrame(_ engine: Engine, link: LinkType) -> (end: ReadEnd, lastTime: Timestamp?) {
        var last: Timestamp?
        let end: ReadEnd
        if linkTypePerRecord {
            // Safe: `records` is lent for the call; `extracting` checks each record's range against `frames`.
            end = unsafe readLinkBatches { frames, records, link in
                for unsafe record in unsafe records {
                    engine.process(frame: frames.extracting(record.start..<(record.start + record.count)),
                                   time: record.time, link: link, number: record.number)
                }
                if let record = unsafe records.last { last = record.time }
            }
        } else {
            end = read { frame, time in
                engine.process(frame: frame, time: time, link: link)
                last = time
            }
        }
        return (end, last)
    }

    /// `feed` when `batched`, else `feedFrameByFrame`: for callers that pick the path at run time
    /// (the engine fuzz target picks it from its input).
    public func feed(_ engine: Engine, link: LinkType, batched: Bool) -> (end: ReadEnd, lastTime: Timestamp?) {
        batched ? feed(engine) : feedFrameByFrame(engine, link: link)
    }
}
