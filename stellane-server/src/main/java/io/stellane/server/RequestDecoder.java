package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.LastHttpContent;

import java.util.List;

/**
 * Netty's request decoder plus what it does not do itself: it rejects obs-fold (a header line
 * starting with SP or HT, which Netty would fold into the previous value), tells the connection
 * when the bytes of a new request head start arriving (for the header read timeout), and decodes a
 * new request only when the connection is ready for one ({@link Http1Connection#readyForRequest()}).
 * Until then the bytes stay here, the connection stops reading the socket, and
 * {@link #decodeBuffered()} picks them up when it is ready again.
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

    private final Http1Connection connection;
    private ChannelHandlerContext ctx;
    private boolean atHead = true;
    private boolean midHead;
    private boolean folded;
    private boolean decoding;

    RequestDecoder(HttpDecoderConfig config, Http1Connection connection) {
        super(config);
        this.connection = connection;
        connection.decoder(this);
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
        this.ctx = ctx;
        super.handlerAdded(ctx);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        decoding = true;
        try {
            super.channelRead(ctx, msg);
        } finally {
            decoding = false;
        }
    }

    @Override
    public void channelReadComplete(ChannelHandlerContext ctx) throws Exception {
        if (connection.inputHeld()) {
            // the base class would ask for one more read when a read decoded nothing with autoRead off:
            // exactly what holding input must not do
            ctx.fireChannelReadComplete();
            return;
        }
        super.channelReadComplete(ctx);
    }

    /** Whether a read is being decoded now (messages may still reach the connection from it). */
    boolean decoding() {
        return decoding;
    }

    /** Whether bytes wait here for the connection to be ready. */
    boolean hasBufferedInput() {
        return internalBuffer().isReadable();
    }

    /** How many bytes wait here, undecoded. */
    int bufferedBytes() {
        return internalBuffer().readableBytes();
    }

    /** Decodes the bytes waiting here, as a read would. On the channel's loop, outside a read. */
    void decodeBuffered() {
        try {
            channelRead(ctx, Unpooled.EMPTY_BUFFER);
        } catch (Exception e) {
            ctx.fireExceptionCaught(e); // what the pipeline would do with a decoder failure during a read
        }
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) throws Exception {
        if (atHead && !midHead) {
            if (connection.discardingInput()) {
                in.skipBytes(in.readableBytes());
                return;
            }
            if (!connection.readyForRequest()) {
                if (in.isReadable()) {
                    connection.holdInput();
                }
                return;
            }
        }
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
