package io.stellane.recovery;

import io.stellane.StellaneException;

/**
 * A recovery store cannot do what was asked: unknown store name, unknown request id, the store is
 * closed or in use by another process, or an I/O error. Nothing was journaled by the failed call.
 */
public class RecoveryException extends StellaneException {
    public RecoveryException(String message) {
        super(message);
    }

    public RecoveryException(String message, Throwable cause) {
        super(message, cause);
    }
}
