package io.stellane.examples.users;

import java.util.Optional;
import java.util.regex.Pattern;

/**
 * The body of a create request. Construction accepts anything (including nulls), so that a bad body
 * can be reported field by field through {@link #validate()}. Immutable.
 *
 * <p>Rules: {@code name} is 1 to {@value #MAX_NAME_LENGTH} characters (Unicode code points, so an emoji
 * counts as one), not blank, without control characters (PostgreSQL cannot store U+0000 in text at all);
 * {@code email} is at most {@value #MAX_EMAIL_LENGTH} characters with a local part of at most
 * {@value #MAX_LOCAL_PART_LENGTH}, and matches the WHATWG HTML {@code input type=email} grammar (ASCII
 * only: {@code local@label.label}, labels of letters, digits and inner hyphens, at most 63 long).
 */
public record NewUser(String name, String email) {
    public static final int MAX_NAME_LENGTH = 100;
    public static final int MAX_EMAIL_LENGTH = 254;
    public static final int MAX_LOCAL_PART_LENGTH = 64;

    private static final Pattern EMAIL = Pattern.compile(
            "[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+"
                    + "@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    + "(?:\\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*");

    /** The first invalid field ({@code name} before {@code email}) and why, or empty when the body is valid. */
    public Optional<FieldError> validate() {
        if (name == null) {
            return bad("name", "is required");
        }
        if (name.isBlank()) {
            return bad("name", "must not be blank");
        }
        int length = name.codePointCount(0, name.length());
        if (length > MAX_NAME_LENGTH) {
            return bad("name", "must be at most " + MAX_NAME_LENGTH + " characters, got " + length);
        }
        if (name.codePoints().anyMatch(Character::isISOControl)) {
            return bad("name", "must not contain control characters");
        }
        if (email == null) {
            return bad("email", "is required");
        }
        if (email.length() > MAX_EMAIL_LENGTH) {
            return bad("email", "must be at most " + MAX_EMAIL_LENGTH + " characters, got " + email.length());
        }
        if (!EMAIL.matcher(email).matches()) {
            return bad("email", "must be a valid email address like name@example.com");
        }
        if (email.indexOf('@') > MAX_LOCAL_PART_LENGTH) {
            return bad("email", "the part before @ must be at most " + MAX_LOCAL_PART_LENGTH + " characters");
        }
        return Optional.empty();
    }

    /** This body if it is valid. @throws ValidationException naming the first bad field */
    public NewUser requireValid() {
        Optional<FieldError> error = validate();
        if (error.isPresent()) {
            throw new ValidationException(error.get());
        }
        return this;
    }

    private static Optional<FieldError> bad(String field, String reason) {
        return Optional.of(new FieldError(field, reason));
    }
}
