@testable import Inventory
import MailAuth
import Testing

@Test("banner products and versions", arguments: [
    ("220 mail.example.net ESMTP Exim 4.96 Wed, 25 Nov 2026", "Exim", "4.96"),
    ("220 mx.example.org ESMTP Sendmail 8.15.2/8.15.2; Tue", "Sendmail", "8.15.2"),
    ("220 host Microsoft ESMTP MAIL Service, Version: 10.0.17763.1 ready at", "Microsoft Exchange", "10.0.17763.1"),
    ("* OK The Microsoft Exchange IMAP4 service is ready.", "Microsoft Exchange", nil),
    ("+OK Dovecot (Debian) ready.", "Dovecot", nil),
    ("* OK Courier-IMAP ready. Copyright 1998-2018 Double Precision, Inc.", "Courier", nil),
    ("* OK mail.example.com Cyrus IMAP v3.0.7-Debian-3.0.7-1 server ready", "Cyrus", "3.0.7-Debian-3.0.7-1"),
    ("220 smtp.example.com ESMTP OpenSMTPD", "OpenSMTPD", nil),
] as [(String, String, String?)])
func bannerProducts(_ banner: String, _ product: String, _ version: String?) {
    let bytes = Array(banner.utf8)
    let found = BannerProducts.identify(bytes.span)
    #expect(found?.product == product)
    #expect(found?.version == version)
}

@Test("banners naming no known product, or a product inside a longer word")
func bannerUnknown() {
    for banner in ["220 mail.example.net ESMTP ready", "+OK POP3 server ready <1.2@x>", "* OK Eximple IMAP ready"] {
        let bytes = Array(banner.utf8)
        #expect(BannerProducts.identify(bytes.span) == nil, "\(banner)")
    }
}

@Test("a session's greeting names the server's product")
func productFromSessionGreeting() {
    for (greeting, proto, product, version) in [
        ("+OK Dovecot (Debian) ready. <1859.21.6b06e222.SgSTlx@mail.example.net>", MailProtocol.pop3, "Dovecot", nil),
        ("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] Cyrus IMAP v2.4.17-Invoca server ready", .imap, "Cyrus", "2.4.17-Invoca"),
        ("220 mail.example.net ESMTP Exim 4.96 Wed, 25 Nov 2026 13:26:58 +0000", .smtp, "Exim", "4.96"),
        ("\"IMPLEMENTATION\" \"Dovecot (Debian) Pigeonhole\"", .managesieve, "Dovecot", nil),
    ] as [(String, MailProtocol, String, String?)] {
        let parser = ProtocolRegistry.makeParser(for: proto)
        parser.receive(Array((greeting + "\r\n").utf8).span, from: .server, time: 0)
        #expect(parser.facts.identifiedProduct()?.product == product, "\(greeting)")
        #expect(parser.facts.identifiedProduct()?.version == version, "\(greeting)")
    }
}
