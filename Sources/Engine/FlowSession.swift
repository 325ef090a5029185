import MailAuth
import Reassembly

/// The engine's per-flow state, kept in an array indexed by the flow table's slot.
struct FlowSession {
    enum State { case undetermined, ignored, parsing }
    var state: State = .undetermined
    var parser: SessionParser?
    var alerts = 0
    /// The client opened with a TLS handshake on an implicit-TLS port: reported to the observer
    /// when the flow ends, never parsed.
    var implicitTLS: MailProtocol?
    /// The start of a greeting that arrived without its line end (bounded, see SessionRouter).
    var heldGreeting: [UInt8] = []

    /// As `FlowSession()` is.
    var isFresh: Bool {
        state == .undetermined && parser == nil && alerts == 0 && implicitTLS == nil && heldGreeting.isEmpty
    }

    /// Makes the session fresh again, dropping its parser. Field by field: assigning
    /// `FlowSession()` also released the empty greeting array it replaced, once a flow.
    mutating func reset() {
        state = .undetermined
        parser = nil
        alerts = 0
        implicitTLS = nil
        if !heldGreeting.isEmpty { heldGreeting = [] }
    }
}
