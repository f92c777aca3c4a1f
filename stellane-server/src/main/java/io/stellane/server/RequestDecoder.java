package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.LastHttpContent;

import java.util.List;

/**
 * Netty's request decoder plus what it does not do itself: it rejects obs-fold (a header line
 * starting with SP or HT, which Netty would fold into the previous value) and tells the connection
 * when the bytes of a new request head start arriving (for the header read timeout).
 *
 * <p>Netty consumes a head line by line and never a partial line, so at each call in the head the
 * reader index sits at a line start: a fold is either a line feed followed by SP/HT in the bytes
 * at hand, or SP/HT right at the reader index once part of the head was consumed.
 */
final class RequestDecoder extends HttpRequestDecoder {
    static final class ObsFoldException extends IllegalArgumentException {
        ObsFoldException() {
            super("obsolete line folding (obs-fold) in the header section");
        }
    }

    private final Connection connection;
    private boolean atHead = true;
    private boolean midHead;
    private boolean folded;

    RequestDecoder(HttpDecoderConfig config, Connection connection) {
        super(config);
        this.connection = connection;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        int first = out.size();
        if (atHead && in.isReadable()) {
            if (!midHead) {
                connection.headStarted();
            }
            if (!folded) {
                folded = hasObsFold(in, midHead);
            }
        }
        int before = in.readerIndex();
        super.decode(ctx, in, out);
        int n = out.size();
        for (int i = first; i < n; i++) {
            Object o = out.get(i);
            if (o instanceof HttpRequest r) {
                if (folded && r.decoderResult().isSuccess()) {
                    r.setDecoderResult(DecoderResult.failure(new ObsFoldException()));
                }
                folded = false;
                midHead = false;
                atHead = false;
            }
            if (o instanceof LastHttpContent) {
                atHead = true;
                midHead = false;
            }
        }
        if (atHead && n == first && in.readerIndex() != before) {
            midHead = true;
        }
    }

    /**
     * Whether a line of the head at hand starts with SP/HT (a fold). Scans for line feeds eight
     * bytes at a time (SWAR) and looks at the byte after each; it stops at the blank line that
     * ends the head. This runs once per request on the hot path, so it must cost next to nothing.
     */
    private static boolean hasObsFold(ByteBuf in, boolean midHead) {
        int i = in.readerIndex();
        int to = in.writerIndex();
        if (midHead && isWs(in.getByte(i))) {
            return true;
        }
        for (; i + 8 <= to; i += 8) {
            long word = in.getLongLE(i) ^ LFS;
            long candidates = (word - ONES) & ~word & HIGHS; // a high bit per byte that was '\n' (or may be)
            while (candidates != 0) {
                int lf = i + (Long.numberOfTrailingZeros(candidates) >>> 3);
                candidates &= candidates - 1;
                if (in.getByte(lf) == '\n') {
                    int verdict = afterLineFeed(in, lf, to);
                    if (verdict != 0) {
                        return verdict > 0;
                    }
                }
            }
        }
        for (; i < to; i++) {
            if (in.getByte(i) == '\n') {
                int verdict = afterLineFeed(in, i, to);
                if (verdict != 0) {
                    return verdict > 0;
                }
            }
        }
        return false;
    }

    private static final long LFS = 0x0A0A0A0A0A0A0A0AL;
    private static final long ONES = 0x0101010101010101L;
    private static final long HIGHS = 0x8080808080808080L;

    /** 1: a fold follows the line feed at {@code lf}; -1: the head ends there (or the bytes do); 0: go on. */
    private static int afterLineFeed(ByteBuf in, int lf, int to) {
        if (lf + 1 >= to) {
            return -1;
        }
        byte next = in.getByte(lf + 1);
        if (isWs(next)) {
            return 1;
        }
        return next == '\r' || next == '\n' ? -1 : 0;
    }

    private static boolean isWs(byte b) {
        return b == ' ' || b == '\t';
    }
}
