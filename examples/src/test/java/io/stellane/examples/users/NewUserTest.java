package io.stellane.examples.users;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NewUserTest {
    private static final String OK_EMAIL = "ada@example.com";

    private static FieldError error(String name, String email) {
        return new NewUser(name, email).validate().orElseThrow(() -> new AssertionError("expected invalid"));
    }

    @Test
    void aValidBodyHasNoError() {
        assertThat(new NewUser("Ada", OK_EMAIL).validate()).isEmpty();
        assertThat(new NewUser("A", "a@b").validate()).isEmpty();
        assertThat(new NewUser("x".repeat(100), OK_EMAIL).validate()).isEmpty();
        assertThat(new NewUser("😀".repeat(100), OK_EMAIL).validate()).as("code points, not UTF-16 units").isEmpty();
    }

    @Test
    void nameRules() {
        assertThat(error(null, OK_EMAIL)).isEqualTo(new FieldError("name", "is required"));
        assertThat(error("", OK_EMAIL)).isEqualTo(new FieldError("name", "must not be blank"));
        assertThat(error(" \t\u2003", OK_EMAIL)).isEqualTo(new FieldError("name", "must not be blank"));
        assertThat(error("x".repeat(101), OK_EMAIL))
                .isEqualTo(new FieldError("name", "must be at most 100 characters, got 101"));
        assertThat(error("😀".repeat(101), OK_EMAIL).reason()).endsWith("got 101");
        assertThat(error("Ada\u0000", OK_EMAIL)).isEqualTo(new FieldError("name", "must not contain control characters"));
        assertThat(error("Ada\nLovelace", OK_EMAIL).field()).isEqualTo("name");
    }

    @Test
    void theNameIsReportedBeforeTheEmail() {
        assertThat(error("", "bad").field()).isEqualTo("name");
    }

    @ParameterizedTest
    @ValueSource(strings = {"john.doe@example.com", "a+tag@sub.example.co.uk", "x@localhost", "o'brien@example.ie",
            "user_1@xn--bcher-kva.example", "1@2.3"})
    void acceptedEmails(String email) {
        assertThat(new NewUser("N", email).validate()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "plain", "@example.com", "a@", "a@@example.com", "a b@example.com", "a@exa mple.com",
            "a@-example.com", "a@example-.com", "a@example..com", "a@.example.com", "a@example.com.", "ünï@example.com",
            "a@exämple.com", "a@example.com\n", "<a@example.com>"})
    void rejectedEmails(String email) {
        FieldError e = error("N", email);
        assertThat(e.field()).isEqualTo("email");
        assertThat(e.reason()).isEqualTo("must be a valid email address like name@example.com");
    }

    @Test
    void emailLengthLimits() {
        assertThat(error("N", null)).isEqualTo(new FieldError("email", "is required"));
        String label = "d".repeat(63);
        String at254 = "l".repeat(58) + "@" + label + "." + label + "." + label + ".com"; // 58+1+3*63+2+4 = 254
        assertThat(at254).hasSize(254);
        assertThat(new NewUser("N", at254).validate()).isEmpty();
        assertThat(error("N", "l" + at254)).isEqualTo(new FieldError("email", "must be at most 254 characters, got 255"));
        assertThat(error("N", "l".repeat(65) + "@example.com").reason()).contains("before @ must be at most 64");
        assertThat(new NewUser("N", "l".repeat(64) + "@example.com").validate()).isEmpty();
        assertThat(error("N", "a@" + "d".repeat(64) + ".com").reason()).contains("valid email");
    }

    @Test
    void requireValidThrowsTheFirstError() {
        assertThatThrownBy(() -> new NewUser("Ada", "nope").requireValid())
                .isInstanceOfSatisfying(ValidationException.class, e -> {
                    assertThat(e.error().field()).isEqualTo("email");
                    assertThat(e).hasMessageStartingWith("invalid email: must be a valid email");
                });
        NewUser ok = new NewUser("Ada", OK_EMAIL);
        assertThat(ok.requireValid()).isSameAs(ok);
    }
}
