import Engine
import Wire

extension PcapFileReader {
    /// Reads every record into `engine`, in batches (as a replay of a file does) or frame by frame
    /// (as live capture does), and returns how the read ended and the time of the last frame fed.
    /// Does not call `engine.finish`. `link` is the file's link type; a pcapng file read natively
    /// (`linkTypePerRecord`) gives each record its interface's instead.
    public func feed(_ engine: Engine, link: LinkType, batched: Bool) -> (end: ReadEnd, lastTime: Timestamp?) {
        var last: Timestamp?
        let end: ReadEnd
        if linkTypePerRecord {
            end = unsafe readLinkBatches { frames, records, link in
                if batched {
                    unsafe engine.process(frames: frames, records: records, link: link)
                } else {
                    for unsafe record in unsafe records {
                        engine.process(frame: frames.extracting(record.start..<(record.start + record.count)),
                                       time: record.time, link: link, number: record.number)
                    }
                }
                if let record = unsafe records.last { last = record.time }
            }
        } else if batched {
            end = unsafe readBatches { frames, records in
                unsafe engine.process(frames: frames, records: records, link: link)
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
}
