package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.HttpDecoderConfig;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpRequestDecoder;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ByteProcessor;

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
     * One pass over the bytes at hand, up to the end of the head: stops at a line feed followed by
     * SP/HT (a fold) or by CR/LF (the blank line). {@code forEachByte} walks direct buffers without a
     * call per line, which matters: this runs once per request on the hot path.
     */
    private boolean hasObsFold(ByteBuf in, boolean midHead) {
        int from = in.readerIndex();
        int to = in.writerIndex();
        if (midHead && isWs(in.getByte(from))) {
            return true;
        }
        scanner.fold = false;
        scanner.afterLf = false;
        in.forEachByte(from, to - from, scanner);
        return scanner.fold;
    }

    private final FoldScanner scanner = new FoldScanner();

    private static final class FoldScanner implements ByteProcessor {
        boolean afterLf;
        boolean fold;

        @Override
        public boolean process(byte b) {
            if (afterLf) {
                if (b == ' ' || b == '\t') {
                    fold = true;
                    return false;
                }
                if (b == '\r' || b == '\n') {
                    return false; // the blank line: the head ends here
                }
                afterLf = false;
            }
            if (b == '\n') {
                afterLf = true;
            }
            return true;
        }
    }

    private static boolean isWs(byte b) {
        return b == ' ' || b == '\t';
    }
}
