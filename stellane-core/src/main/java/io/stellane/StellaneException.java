package io.stellane;

/**
 * Base of every exception Stellane throws. Unchecked: misuse of the API (scheduling before
 * {@code Runtime.init}, a second {@code init}, awaiting on a worker) is a programming error.
 */
public class StellaneException extends RuntimeException {
    public StellaneException(String message) {
        super(message);
    }

    public StellaneException(String message, Throwable cause) {
        super(message, cause);
    }
}
