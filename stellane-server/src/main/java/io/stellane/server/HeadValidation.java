package io.stellane.server;

import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;

import java.util.Iterator;
import java.util.List;

/**
 * The checks on a request head that Netty's decoder (4.2, default strict config) leaves to us.
 *
 * <p>Netty already rejects: malformed request lines and line endings (strict CRLF), whitespace
 * before the colon and non-token field names, control characters in field values, Content-Length
 * that is duplicated, conflicting, signed or not a number, Content-Length with Transfer-Encoding,
 * Transfer-Encoding in HTTP/1.0, a final coding other than chunked, chunked applied twice, bad chunk
 * sizes and extensions, and over-long lines and header sections. We add: obs-fold
 * ({@link RequestDecoder}), codings other than plain {@code chunked}, a missing or repeated Host,
 * the header count, and the request-target forms of RFC 9112 section 3.2.
 */
final class HeadValidation {
    /** A refusal: status and a fixed, safe reason (never request bytes). */
    record Refusal(int status, String reason) {
    }

    static final Refusal BAD_REQUEST = new Refusal(400, "Bad Request");
    static final Refusal URI_TOO_LONG = new Refusal(414, "URI Too Long");
    static final Refusal HEADERS_TOO_LARGE = new Refusal(431, "Request Header Fields Too Large");
    static final Refusal BAD_TARGET = new Refusal(400, "Bad Request: invalid request target");
    static final Refusal NO_HOST = new Refusal(400, "Bad Request: missing Host header");
    static final Refusal TWO_HOSTS = new Refusal(400, "Bad Request: more than one Host header");
    static final Refusal BAD_CODING = new Refusal(400, "Bad Request: unsupported transfer coding");
    static final Refusal OBS_FOLD = new Refusal(400, "Bad Request: obsolete line folding");
    static final Refusal CONNECT = new Refusal(405, "Method Not Allowed: CONNECT is not supported");
    static final Refusal BAD_VERSION = new Refusal(505, "HTTP Version Not Supported");

    private HeadValidation() {
    }

    /** Why Netty's decoder failed this head. */
    static Refusal ofDecoderFailure(Throwable cause) {
        if (cause instanceof TooLongHttpLineException) {
            return URI_TOO_LONG;
        }
        if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
            return HEADERS_TOO_LARGE;
        }
        if (cause instanceof RequestDecoder.ObsFoldException) {
            return OBS_FOLD;
        }
        return BAD_REQUEST;
    }

    /** {@code null} when the head is acceptable. */
    static Refusal check(HttpRequest req, int maxHeaderCount) {
        HttpVersion v = req.protocolVersion();
        if (v.majorVersion() != 1 || v.minorVersion() > 1) {
            return BAD_VERSION;
        }
        HttpHeaders h = req.headers();
        if (h.size() > maxHeaderCount) {
            return HEADERS_TOO_LARGE;
        }
        Refusal target = checkTarget(req.method(), req.uri());
        if (target != null) {
            return target;
        }
        // an iterator, not getAll: no list and no String conversion per request
        Iterator<? extends CharSequence> hosts = h.valueCharSequenceIterator(HttpHeaderNames.HOST);
        if (!hosts.hasNext()) {
            if (v.minorVersion() == 1) {
                return NO_HOST;
            }
        } else {
            hosts.next();
            if (hosts.hasNext()) {
                return TWO_HOSTS;
            }
        }
        if (h.contains(HttpHeaderNames.TRANSFER_ENCODING)) {
            List<String> te = h.getAll(HttpHeaderNames.TRANSFER_ENCODING);
            if (te.size() != 1 || !te.getFirst().trim().equalsIgnoreCase("chunked")) {
                return BAD_CODING;
            }
        }
        return null;
    }

    private static Refusal checkTarget(HttpMethod method, String uri) {
        int n = uri.length();
        if (n == 0) {
            return BAD_TARGET;
        }
        for (int i = 0; i < n; i++) {
            char c = uri.charAt(i);
            if (c <= ' ' || c >= 0x7f || c == '#') {
                return BAD_TARGET;
            }
        }
        if (method == HttpMethod.CONNECT) {
            return CONNECT; // authority-form is only for CONNECT, which we do not tunnel
        }
        char c0 = uri.charAt(0);
        if (c0 == '/') {
            return null; // origin-form
        }
        if (c0 == '*') {
            return n == 1 && method == HttpMethod.OPTIONS ? null : BAD_TARGET; // asterisk-form
        }
        int scheme = uri.indexOf("://");
        if (scheme > 0) {
            String s = uri.substring(0, scheme);
            if ((s.equalsIgnoreCase("http") || s.equalsIgnoreCase("https")) && scheme + 3 < n
                    && uri.charAt(scheme + 3) != '/') {
                return null; // absolute-form
            }
        }
        return BAD_TARGET;
    }
}
