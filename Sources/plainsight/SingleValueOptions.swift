import ArgumentParser

// swift-argument-parser keeps the last value of an option given twice and says nothing, so
// `-o a -o b` would write only b and `-i lo -i eth0` capture only on eth0. Every single-value
// option is therefore declared as an array (read through a computed property giving its value)
// and refused here when given more than once. --help is unchanged: the usage lines are written
// by hand, and the option list shows an array option as any other.

/// The usage error for the first option given more than once, if any. `counts` pairs each
/// option's spelling (`-o/--output`) with how many times it was given.
func repeatedOptionError(_ counts: [(String, Int)]) -> ValidationError? {
    guard let (name, count) = counts.first(where: { $0.1 > 1 }) else { return nil }
    return ValidationError("\(name) is given \(count) times; it takes one value: give it once")
}
