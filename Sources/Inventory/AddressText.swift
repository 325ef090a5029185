import Wire

extension ByteSink {
    /// Appends `address` as `IPAddress.description` prints it, from the stack buffer of
    /// `IPAddress.withText` rather than through a String.
    mutating func append(address: IPAddress) {
        address.withText { append($0) }
    }
}
