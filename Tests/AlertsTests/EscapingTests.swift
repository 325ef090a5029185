import Alerts
import Foundation
import Testing

@Suite("Output escaping")
struct EscapingTests {
    @Test(arguments: [
        ([0x61, 0x22, 0x5C], #"a\"\\"#),
        ([0x00, 0x09, 0x0A, 0x0D, 0x1B, 0x1F, 0x7F], #"\u0000\u0009\u000a\u000d\u001b\u001f\u007f"#),
        ([0xFF], #"\\xff"#),
        ([0x80], #"\\x80"#),
        ([0xC0, 0xAF], #"\\xc0\\xaf"#),                       // overlong '/'
        ([0xE2, 0x82], #"\\xe2\\x82"#),                        // truncated at the end
        ([0xE2, 0x82, 0x41], #"\\xe2\\x82A"#),                 // truncated, then ASCII
        ([0xED, 0xA0, 0x80], #"\\xed\\xa0\\x80"#),             // UTF-16 surrogate
        ([0xF4, 0x90, 0x80, 0x80], #"\\xf4\\x90\\x80\\x80"#),  // above U+10FFFF
        ([0xE2, 0x82, 0xAC], "€"),
        ([0xF0, 0x9F, 0x93, 0xAE], "📮"),
        ([0xC2, 0x85], #"\u0085"#),                            // NEL (C1 control)
        ([0xE2, 0x80, 0xA8], #"\u2028"#),                      // line separator
        ([0xE2, 0x80, 0xAE], #"\u202e"#),                      // right-to-left override
    ] as [([UInt8], String)])
    func table(input: [UInt8], expected: String) throws {
        let escaped = OutputEscaping.escape(input)
        #expect(escaped == expected)
        // Always a valid JSON string body.
        _ = try JSONSerialization.jsonObject(with: Data(("\"" + escaped + "\"").utf8), options: .fragmentsAllowed)
    }

    @Test func everyByteValueStaysValidJSON() throws {
        for first in 0...255 {
            for second in [0x00, 0x41, 0x80, 0xA0, 0xBF, 0xC3, 0xFF] {
                let escaped = OutputEscaping.escape([UInt8(first), UInt8(second), 0x80, 0x80])
                #expect(!escaped.utf8.contains { $0 < 0x20 || $0 == 0x7F })
                _ = try JSONSerialization.jsonObject(with: Data(("\"" + escaped + "\"").utf8), options: .fragmentsAllowed)
            }
        }
    }
}

@Suite("Output escaping, generated input")
struct EscapingPropertyTests {
    /// Valid UTF-8 without quotes, backslashes or controls passes through unchanged.
    @Test func plainTextUnchanged() {
        var generator = SystemRandomNumberGenerator()
        let alphabet = Array("abcXYZ019 @.-_éßø€漢字📮🇩🇪".unicodeScalars)
        for _ in 0..<500 {
            let length = Int.random(in: 0...24, using: &generator)
            var text = String.UnicodeScalarView()
            for _ in 0..<length { text.append(alphabet.randomElement(using: &generator) ?? "a") }
            let string = String(text)
            #expect(OutputEscaping.escape(string.utf8) == string)
        }
    }

    /// Random bytes always give valid JSON with no raw control characters.
    @Test func randomBytesStayValid() throws {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0...16, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let escaped = OutputEscaping.escape(bytes)
            #expect(!escaped.utf8.contains { $0 < 0x20 || $0 == 0x7F })
            _ = try JSONSerialization.jsonObject(with: Data(("\"" + escaped + "\"").utf8), options: .fragmentsAllowed)
        }
    }
}
