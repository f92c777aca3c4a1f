package io.stellane.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufOutputStream;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * What a response carries, as its factory made it, and the one encoder that turns it into bytes:
 * {@link #encode} for the wire (text and JSON written straight into a pooled buffer, constants
 * shared), {@link #bytes} for a response the journal stores for an idempotency key.
 */
sealed interface ResponseBody {
    Empty EMPTY = new Empty();

    record Empty() implements ResponseBody {
    }

    /** Not copied: the caller promised not to change them. */
    record Bytes(byte[] bytes) implements ResponseBody {
    }

    record Text(String text) implements ResponseBody {
    }

    record JsonValue(Object value) implements ResponseBody {
    }

    record Constant(Body body) implements ResponseBody {
    }

    /** Written as it is produced, never encoded in one piece. */
    record Streamed(Response.StreamProducer producer) implements ResponseBody {
    }

    /**
     * The body for the wire. An {@code instanceof} chain, most frequent kinds first: it runs once per
     * response on the worker.
     */
    static ByteBuf encode(ResponseBody body, ByteBufAllocator alloc) throws IOException {
        if (body instanceof Constant c) {
            return c.body().buffer.duplicate();
        } else if (body instanceof JsonValue j) {
            ByteBuf buf = alloc.buffer();
            try {
                Json.MAPPER.writeValue((OutputStream) new ByteBufOutputStream(buf), j.value());
                return buf;
            } catch (IOException | RuntimeException e) {
                buf.release();
                throw e;
            }
        } else if (body instanceof Text t) {
            return ByteBufUtil.writeUtf8(alloc, t.text());
        } else if (body instanceof Bytes b) {
            return Unpooled.wrappedBuffer(b.bytes());
        } else if (body instanceof Empty) {
            return Unpooled.EMPTY_BUFFER;
        }
        throw new IllegalArgumentException("a streamed body is written as it is produced");
    }

    /** The body as one array, for storing; null for a stream, which cannot be stored. */
    static byte[] bytes(ResponseBody body) throws IOException {
        return switch (body) {
            case Empty e -> new byte[0];
            case Bytes b -> b.bytes();
            case Text t -> t.text().getBytes(StandardCharsets.UTF_8);
            case JsonValue j -> Json.MAPPER.writeValueAsBytes(j.value());
            case Constant c -> ByteBufUtil.getBytes(c.body().buffer, c.body().buffer.readerIndex(), c.body().buffer.readableBytes());
            case Streamed s -> null;
        };
    }
}
