package io.stellane.recovery;

/**
 * The journal has reached {@link RecoveryStoreConfig#maxJournalBytes()} (or a record is larger
 * than a segment). The rejected request was not journaled; everything journaled before it is
 * intact. The server should answer 503 rather than run the request unjournaled. Completions and
 * attempts still have reserved room, so the journal drains as in-flight requests finish.
 */
public class JournalFullException extends RecoveryException {
    public JournalFullException(String message) {
        super(message);
    }
}
