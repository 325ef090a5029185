import Testing
import Wire

struct Formatting: Sendable, CustomTestStringConvertible {
    var address: IPAddress
    var text: String
    var testDescription: String { text }

    static func v6(_ high: UInt64, _ low: UInt64, _ text: String) -> Formatting {
        Formatting(address: IPAddress(ipv6High: high, low: low), text: text)
    }
    static func v4(_ value: UInt32, _ text: String) -> Formatting {
        Formatting(address: IPAddress(ipv4: value), text: text)
    }
}

@Suite struct IPAddressTests {
    static let formatting: [Formatting] = [
        .v4(0, "0.0.0.0"),
        .v4(0xFFFF_FFFF, "255.255.255.255"),
        .v4(0xC000_0201, "192.0.2.1"),
        .v4(0x0A00_00FF, "10.0.0.255"),
        .v6(0, 0, "::"),
        .v6(0, 1, "::1"),
        .v6(0x0001_0000_0000_0000, 0, "1::"),
        .v6(0x2001_0DB8_0000_0000, 1, "2001:db8::1"),
        // A single zero group is never compressed (RFC 5952 4.2.2).
        .v6(0x2001_0DB8_0000_0001, 0x0001_0001_0001_0001, "2001:db8:0:1:1:1:1:1"),
        // Longest run wins (4.2.3).
        .v6(0x2001_0000_0000_0001, 0x0000_0000_0000_0001, "2001:0:0:1::1"),
        // First run wins a tie (4.2.3).
        .v6(0x2001_0DB8_0000_0000, 0x0001_0000_0000_0001, "2001:db8::1:0:0:1"),
        .v6(0x0000_0000_0001_0000, 0x0000_0000_0001_0000, "0:0:1::1:0"),
        // Lowercase, no leading zeros (4.1, 4.3).
        .v6(0x2001_0DB8_AAAA_BBBB, 0xCCCC_DDDD_EEEE_00AF, "2001:db8:aaaa:bbbb:cccc:dddd:eeee:af"),
        .v6(0xFE80_0000_0000_0000, 0x0200_5EFF_FE00_5301, "fe80::200:5eff:fe00:5301"),
        .v6(0x0000_0000_0000_0000, 0x0000_0000_0000_FFFF, "::ffff"),
        // IPv4-mapped keeps the dotted tail (5).
        .v6(0, 0x0000_FFFF_C000_0280, "::ffff:192.0.2.128"),
        .v6(0, 0x0000_FFFF_0000_0000, "::ffff:0.0.0.0"),
        // Not mapped: the deprecated IPv4-compatible form and IPv4-translated stay hex.
        .v6(0, 0x0000_0000_C000_0201, "::c000:201"),
        .v6(0, 0xFFFF_0000_C000_0280, "::ffff:0:c000:280"),
        .v6(0xFFFF_FFFF_FFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
        .v6(0x0001_0002_0003_0004, 0x0005_0006_0007_0000, "1:2:3:4:5:6:7:0"),
    ]

    @Test(arguments: formatting)
    func formatsCanonically(_ row: Formatting) {
        #expect(row.address.description == row.text)
    }

    @Test(arguments: formatting)
    func parsesItsOwnOutput(_ row: Formatting) {
        #expect(IPAddress(parsing: row.text) == row.address)
    }

    @Test(arguments: [
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("2001:db8:0::1", "2001:db8::1"),
        ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
        ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
        ("1:2:3:4:5:6:192.0.2.1", "1:2:3:4:5:6:c000:201"),
        ("::FFFF:192.0.2.1", "::ffff:192.0.2.1"),
        ("0:0:0:0:0:ffff:c000:201", "::ffff:192.0.2.1"),
        ("10.1.2.3", "10.1.2.3"),
    ])
    func parsesNonCanonicalForms(_ input: String, _ canonical: String) {
        #expect(IPAddress(parsing: input)?.description == canonical)
    }

    @Test(arguments: [
        "", " ", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4 ", "1..3.4", "-1.2.3.4", "a.b.c.d",
        ":", ":::", "1::2::3", "12345::", "g::", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", ":1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:", "fe80::1%eth0", "::1.2.3", "1.2.3.4::", "::ffff:1.2.3.256", "1:2:3:4:5:6:7::8",
        "1:2:3:4:5:6:7:1.2.3.4", "::1.2.3.4:5", "[::1]", "2001:db8::1/64",
    ])
    func rejectsGarbage(_ input: String) {
        #expect(IPAddress(parsing: input) == nil)
    }

    @Test func ipv4AndIPv6AreDistinct() {
        #expect(IPAddress(parsing: "0.0.0.1") != IPAddress(parsing: "::1"))
        #expect(IPAddress(parsing: "0.0.0.1")?.isIPv6 == false)
        #expect(IPAddress(parsing: "::1")?.isIPv6 == true)
    }
}
