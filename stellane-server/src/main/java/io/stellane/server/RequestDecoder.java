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

    private static boolean hasObsFold(ByteBuf in, boolean midHead) {
        int i = in.readerIndex();
        int to = in.writerIndex();
        if (midHead && isWs(in.getByte(i))) {
            return true;
        }
        while (i < to) {
            int lf = in.indexOf(i, to, (byte) '\n');
            if (lf < 0 || lf + 1 >= to) {
                return false;
            }
            byte next = in.getByte(lf + 1);
            if (isWs(next)) {
                return true;
            }
            if (next == '\r' || next == '\n') {
                return false; // the blank line: the head ends here
            }
            i = lf + 1;
        }
        return false;
    }

    private static boolean isWs(byte b) {
        return b == ' ' || b == '\t';
    }
}
