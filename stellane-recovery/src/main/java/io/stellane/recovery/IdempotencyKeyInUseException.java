package io.stellane.recovery;

/**
 * {@link RecoveryStore#append} of a request whose idempotency key another pending request holds, on
 * this node or another sharing the store: the server answers 409, and the client's retry gets the
 * stored response once the first one completes. Only stores shared by several nodes throw it; a
 * single node tells the conflict from its own requests in flight before it appends.
 */
public class IdempotencyKeyInUseException extends RecoveryException {
    public IdempotencyKeyInUseException(String idempotencyKey) {
        super("idempotency key " + idempotencyKey + " is held by a request still in flight");
    }
}
