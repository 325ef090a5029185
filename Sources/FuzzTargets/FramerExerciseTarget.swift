import MailAuth

enum FramerExerciseTarget {
    static func run(_ data: Span<UInt8>) { FramerExercise.run(data) }
}
