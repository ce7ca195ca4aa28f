//! Secrets Manager's `GetRandomPassword` as a pure function: the options of the request in,
//! a password out. The core has no randomness of its own; the caller passes a source that
//! fills a buffer (the server hands in aws-lc-rs's `rand::fill`).
//!
//! The character types are lowercase letters, uppercase letters, numbers, punctuation
//! ([`PUNCTUATION`]) and, only when asked for, the space. A type takes part when its
//! `Exclude…` switch is off (`IncludeSpace` on, for the space) and `ExcludeCharacters` leaves
//! at least one of its characters; a type whose characters are all named in
//! `ExcludeCharacters` is dropped rather than required. Characters of `ExcludeCharacters`
//! that belong to no type are ignored.
//!
//! Every draw is uniform: indexes come from rejection sampling, never from a bare modulo.
//! Under `RequireEachIncludedType` one character of each included type is drawn from that
//! type, the rest from the whole pool, and the result is shuffled with Fisher–Yates, so the
//! guaranteed characters can sit at any position with equal probability.

use zeroize::Zeroizing;

/// `PasswordLength` when the request leaves it out.
pub const DEFAULT_PASSWORD_LENGTH: i64 = 32;
pub const MIN_PASSWORD_LENGTH: i64 = 1;
pub const MAX_PASSWORD_LENGTH: i64 = 4096;
/// The most characters `ExcludeCharacters` may hold.
pub const MAX_EXCLUDE_CHARACTERS: usize = 4096;

pub const LOWERCASE: &str = "abcdefghijklmnopqrstuvwxyz";
pub const UPPERCASE: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const NUMBERS: &str = "0123456789";
/// The punctuation Secrets Manager draws from, all 32 printable ASCII symbols.
pub const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
pub const SPACE: &str = " ";

/// The members of a `GetRandomPassword` request, with AWS's defaults already applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordOptions {
    /// Checked here against 1..=4096, so the wire's `Long` can be passed as it came.
    pub password_length: i64,
    pub exclude_characters: String,
    pub exclude_numbers: bool,
    pub exclude_punctuation: bool,
    pub exclude_uppercase: bool,
    pub exclude_lowercase: bool,
    pub include_space: bool,
    pub require_each_included_type: bool,
}

impl Default for PasswordOptions {
    fn default() -> Self {
        Self {
            password_length: DEFAULT_PASSWORD_LENGTH,
            exclude_characters: String::new(),
            exclude_numbers: false,
            exclude_punctuation: false,
            exclude_uppercase: false,
            exclude_lowercase: false,
            include_space: false,
            require_each_included_type: true,
        }
    }
}

/// The randomness source failed to fill the buffer it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the random number generator failed")]
pub struct RandomError;

/// Why no password was generated, one variant per AWS exception.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// `InvalidParameterException`: the options cannot be satisfied.
    #[error("{0}")]
    InvalidParameter(String),
    /// `ValidationException`: a constraint of the request model is broken (`PasswordLength`
    /// outside 1..=4096, `ExcludeCharacters` longer than 4096). AWS's front end answers these
    /// before the operation runs, in its usual `N validation error(s) detected: …` form.
    #[error("{0}")]
    Validation(String),
    /// `InternalServiceError`: the randomness source failed.
    #[error("internal error: {0}")]
    Random(#[from] RandomError),
}

impl PasswordError {
    /// The AWS exception this error is sent as.
    pub fn exception(&self) -> &'static str {
        match self {
            Self::InvalidParameter(_) => "InvalidParameterException",
            Self::Validation(_) => "ValidationException",
            Self::Random(_) => "InternalServiceError",
        }
    }
}

pub const ALL_TYPES_EXCLUDED: &str =
    "The password can't be generated because all character types are excluded.";
pub const TOO_SHORT_FOR_REQUIRED_TYPES: &str =
    "Password length is too short based on the required types.";

/// Generates a password following `options`. `random` must fill its whole buffer with
/// cryptographically secure random bytes.
pub fn generate(
    options: &PasswordOptions,
    random: &mut dyn FnMut(&mut [u8]) -> Result<(), RandomError>,
) -> Result<Zeroizing<String>, PasswordError> {
    let length = validate(options)?;
    let types = included_types(options);
    if types.is_empty() {
        return Err(PasswordError::InvalidParameter(
            ALL_TYPES_EXCLUDED.to_owned(),
        ));
    }
    let required = if options.require_each_included_type {
        types.len()
    } else {
        0
    };
    if length < required {
        return Err(PasswordError::InvalidParameter(
            TOO_SHORT_FOR_REQUIRED_TYPES.to_owned(),
        ));
    }
    let pool: Vec<u8> = types.iter().flatten().copied().collect();

    let mut rng = Sampler::new(random);
    let mut bytes = Zeroizing::new(Vec::with_capacity(length));
    for set in types.iter().take(required) {
        bytes.push(rng.pick(set)?);
    }
    while bytes.len() < length {
        bytes.push(rng.pick(&pool)?);
    }
    if required > 0 {
        // Fisher–Yates: position i swaps with a uniform j in 0..=i.
        for i in (1..bytes.len()).rev() {
            let j = rng.below(i + 1)?;
            bytes.swap(i, j);
        }
    }

    let mut password = Zeroizing::new(String::with_capacity(length));
    password.extend(bytes.iter().map(|&b| char::from(b)));
    Ok(password)
}

/// The request model's constraints, reported together as AWS's front end does. Returns the
/// password length.
fn validate(options: &PasswordOptions) -> Result<usize, PasswordError> {
    let mut violations = Vec::new();
    let length = options.password_length;
    if length < MIN_PASSWORD_LENGTH {
        violations.push(format!(
            "Value '{length}' at 'passwordLength' failed to satisfy constraint: \
             Member must have value greater than or equal to {MIN_PASSWORD_LENGTH}"
        ));
    } else if length > MAX_PASSWORD_LENGTH {
        violations.push(format!(
            "Value '{length}' at 'passwordLength' failed to satisfy constraint: \
             Member must have value less than or equal to {MAX_PASSWORD_LENGTH}"
        ));
    }
    if options.exclude_characters.chars().count() > MAX_EXCLUDE_CHARACTERS {
        violations.push(format!(
            "Value '{}' at 'excludeCharacters' failed to satisfy constraint: \
             Member must have length less than or equal to {MAX_EXCLUDE_CHARACTERS}",
            options.exclude_characters
        ));
    }
    if !violations.is_empty() {
        let count = violations.len();
        let plural = if count == 1 { "" } else { "s" };
        return Err(PasswordError::Validation(format!(
            "{count} validation error{plural} detected: {}",
            violations.join("; ")
        )));
    }
    usize::try_from(length).map_err(|_| {
        PasswordError::Validation(format!(
            "1 validation error detected: Value '{length}' at 'passwordLength' failed to \
             satisfy constraint: Member must have value less than or equal to \
             {MAX_PASSWORD_LENGTH}"
        ))
    })
}

/// The character types taking part, each with the characters `ExcludeCharacters` leaves it,
/// in the order lowercase, uppercase, numbers, punctuation, space. Empty types are dropped.
fn included_types(options: &PasswordOptions) -> Vec<Vec<u8>> {
    let mut excluded = [false; 128];
    for c in options.exclude_characters.chars() {
        if let Some(slot) = usize::try_from(u32::from(c))
            .ok()
            .and_then(|i| excluded.get_mut(i))
        {
            *slot = true;
        }
    }
    [
        (LOWERCASE, !options.exclude_lowercase),
        (UPPERCASE, !options.exclude_uppercase),
        (NUMBERS, !options.exclude_numbers),
        (PUNCTUATION, !options.exclude_punctuation),
        (SPACE, options.include_space),
    ]
    .into_iter()
    .filter(|&(_, wanted)| wanted)
    .map(|(set, _)| {
        set.bytes()
            .filter(|&b| !excluded.get(usize::from(b)).copied().unwrap_or(false))
            .collect::<Vec<u8>>()
    })
    .filter(|set| !set.is_empty())
    .collect()
}

/// Uniform draws from a caller's randomness source, which it reads a block at a time.
struct Sampler<'a> {
    random: &'a mut dyn FnMut(&mut [u8]) -> Result<(), RandomError>,
    buffer: Zeroizing<[u8; 256]>,
    used: usize,
}

impl<'a> Sampler<'a> {
    fn new(random: &'a mut dyn FnMut(&mut [u8]) -> Result<(), RandomError>) -> Self {
        let buffer = Zeroizing::new([0u8; 256]);
        let used = buffer.len();
        Self {
            random,
            buffer,
            used,
        }
    }

    fn byte(&mut self) -> Result<u8, RandomError> {
        if self.used >= self.buffer.len() {
            (self.random)(&mut self.buffer[..])?;
            self.used = 0;
        }
        let b = self.buffer.get(self.used).copied().unwrap_or(0);
        self.used += 1;
        Ok(b)
    }

    /// A uniform index in `0..n` (`n >= 1`, at most `u32::MAX`): draws the fewest bytes that
    /// cover `n` and rejects values at or above the largest multiple of `n` they can hold.
    fn below(&mut self, n: usize) -> Result<usize, RandomError> {
        let n = u64::try_from(n)
            .unwrap_or(u64::MAX)
            .clamp(1, u64::from(u32::MAX));
        if n == 1 {
            return Ok(0);
        }
        let mut width = 1u32;
        while (1u64 << (8 * width)) < n {
            width += 1;
        }
        let range = 1u64 << (8 * width);
        let zone = range - range % n;
        loop {
            let mut x = 0u64;
            for _ in 0..width {
                x = (x << 8) | u64::from(self.byte()?);
            }
            if x < zone {
                // x % n < n <= u32::MAX, so it fits in usize.
                return Ok(usize::try_from(x % n).unwrap_or(0));
            }
        }
    }

    fn pick(&mut self, set: &[u8]) -> Result<u8, RandomError> {
        let i = self.below(set.len())?;
        Ok(set.get(i).copied().unwrap_or(b'?'))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A repeatable xorshift64* stream standing in for the system's randomness.
    fn xorshift(seed: u64) -> impl FnMut(&mut [u8]) -> Result<(), RandomError> {
        let mut state = seed | 1;
        move |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                *b = (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8;
            }
            Ok(())
        }
    }

    fn gen(options: &PasswordOptions, seed: u64) -> Result<Zeroizing<String>, PasswordError> {
        generate(options, &mut xorshift(seed))
    }

    fn has_any(password: &str, set: &str) -> bool {
        password.chars().any(|c| set.contains(c))
    }

    #[test]
    fn defaults_give_32_characters_of_all_four_types() {
        for seed in 0..200 {
            let password = gen(&PasswordOptions::default(), seed).unwrap();
            assert_eq!(password.len(), 32);
            assert!(has_any(&password, LOWERCASE), "{}", *password);
            assert!(has_any(&password, UPPERCASE), "{}", *password);
            assert!(has_any(&password, NUMBERS), "{}", *password);
            assert!(has_any(&password, PUNCTUATION), "{}", *password);
            assert!(!password.contains(' '));
        }
    }

    #[test]
    fn punctuation_is_exactly_the_32_ascii_symbols() {
        assert_eq!(PUNCTUATION.len(), 32);
        let expected: String = (0x21u8..0x7f)
            .filter(|b| b.is_ascii_punctuation())
            .map(char::from)
            .collect();
        assert_eq!(PUNCTUATION, expected);
    }

    #[test]
    fn every_exclusion_is_honoured() {
        for (which, set) in [LOWERCASE, UPPERCASE, NUMBERS, PUNCTUATION]
            .into_iter()
            .enumerate()
        {
            let options = PasswordOptions {
                password_length: 200,
                exclude_lowercase: which == 0,
                exclude_uppercase: which == 1,
                exclude_numbers: which == 2,
                exclude_punctuation: which == 3,
                ..PasswordOptions::default()
            };
            for seed in 0..100 {
                let password = gen(&options, seed).unwrap();
                assert_eq!(password.len(), 200);
                assert!(!has_any(&password, set), "{set}: {}", *password);
            }
        }

        let options = PasswordOptions {
            password_length: 500,
            exclude_characters: "/@\"'\\aeiouAEIOU0".to_owned(),
            ..PasswordOptions::default()
        };
        for seed in 0..100 {
            let password = gen(&options, seed).unwrap();
            assert_eq!(password.len(), 500);
            assert!(!has_any(&password, &options.exclude_characters));
            for set in [LOWERCASE, UPPERCASE, NUMBERS, PUNCTUATION] {
                assert!(has_any(&password, set));
            }
        }
    }

    #[test]
    fn only_the_characters_left_are_used() {
        let options = PasswordOptions {
            password_length: 64,
            exclude_characters: format!(
                "{UPPERCASE}{NUMBERS}{PUNCTUATION}bcdefghijklmnopqrstuvwxy"
            ),
            ..PasswordOptions::default()
        };
        for seed in 0..50 {
            let password = gen(&options, seed).unwrap();
            assert!(password.chars().all(|c| c == 'a' || c == 'z'));
            assert_eq!(password.len(), 64);
        }
    }

    #[test]
    fn include_space() {
        let options = PasswordOptions {
            include_space: true,
            password_length: 5,
            ..PasswordOptions::default()
        };
        for seed in 0..200 {
            let password = gen(&options, seed).unwrap();
            assert_eq!(password.len(), 5);
            assert!(password.contains(' '), "{:?}", *password);
            for set in [LOWERCASE, UPPERCASE, NUMBERS, PUNCTUATION] {
                assert!(has_any(&password, set));
            }
        }
        // Five types do not fit in four characters.
        let short = PasswordOptions {
            password_length: 4,
            ..options.clone()
        };
        assert_eq!(
            gen(&short, 1).unwrap_err(),
            PasswordError::InvalidParameter(TOO_SHORT_FOR_REQUIRED_TYPES.to_owned())
        );
        // ExcludeCharacters takes the space back.
        let no_space = PasswordOptions {
            password_length: 300,
            exclude_characters: " ".to_owned(),
            ..options
        };
        for seed in 0..20 {
            assert!(!gen(&no_space, seed).unwrap().contains(' '));
        }
    }

    #[test]
    fn length_one_without_each_type_requirement() {
        let options = PasswordOptions {
            password_length: 1,
            require_each_included_type: false,
            ..PasswordOptions::default()
        };
        for seed in 0..100 {
            let password = gen(&options, seed).unwrap();
            assert_eq!(password.chars().count(), 1);
            assert!(password.chars().all(|c| c.is_ascii_graphic()));
        }
        let required = PasswordOptions {
            require_each_included_type: true,
            ..options
        };
        assert_eq!(
            gen(&required, 0).unwrap_err().exception(),
            "InvalidParameterException"
        );
    }

    #[test]
    fn length_bounds() {
        for length in [1, 4096] {
            let options = PasswordOptions {
                password_length: length,
                require_each_included_type: false,
                ..PasswordOptions::default()
            };
            assert_eq!(gen(&options, 9).unwrap().len() as i64, length);
        }
        let max = PasswordOptions {
            password_length: 4096,
            ..PasswordOptions::default()
        };
        assert_eq!(gen(&max, 9).unwrap().len(), 4096);
    }

    #[test]
    fn errors() {
        let all_excluded = PasswordOptions {
            exclude_lowercase: true,
            exclude_uppercase: true,
            exclude_numbers: true,
            exclude_punctuation: true,
            ..PasswordOptions::default()
        };
        let err = gen(&all_excluded, 0).unwrap_err();
        assert_eq!(
            err,
            PasswordError::InvalidParameter(ALL_TYPES_EXCLUDED.to_owned())
        );
        assert_eq!(err.exception(), "InvalidParameterException");
        // The space alone is enough.
        let only_space = PasswordOptions {
            include_space: true,
            password_length: 3,
            ..all_excluded.clone()
        };
        assert_eq!(gen(&only_space, 0).unwrap().as_str(), "   ");

        let everything_named = PasswordOptions {
            exclude_characters: format!("{LOWERCASE}{UPPERCASE}{NUMBERS}{PUNCTUATION}"),
            ..PasswordOptions::default()
        };
        assert_eq!(
            gen(&everything_named, 0).unwrap_err(),
            PasswordError::InvalidParameter(ALL_TYPES_EXCLUDED.to_owned())
        );

        let too_short = PasswordOptions {
            password_length: 3,
            ..PasswordOptions::default()
        };
        assert_eq!(
            gen(&too_short, 0).unwrap_err(),
            PasswordError::InvalidParameter(TOO_SHORT_FOR_REQUIRED_TYPES.to_owned())
        );
        // A type emptied by ExcludeCharacters is no longer required.
        let three_types = PasswordOptions {
            password_length: 3,
            exclude_characters: NUMBERS.to_owned(),
            ..PasswordOptions::default()
        };
        let password = gen(&three_types, 0).unwrap();
        for set in [LOWERCASE, UPPERCASE, PUNCTUATION] {
            assert!(has_any(&password, set));
        }

        for (length, message) in [
            (
                0,
                "1 validation error detected: Value '0' at 'passwordLength' failed to satisfy \
                 constraint: Member must have value greater than or equal to 1",
            ),
            (
                -7,
                "1 validation error detected: Value '-7' at 'passwordLength' failed to satisfy \
                 constraint: Member must have value greater than or equal to 1",
            ),
            (
                4097,
                "1 validation error detected: Value '4097' at 'passwordLength' failed to satisfy \
                 constraint: Member must have value less than or equal to 4096",
            ),
        ] {
            let options = PasswordOptions {
                password_length: length,
                ..PasswordOptions::default()
            };
            let err = gen(&options, 0).unwrap_err();
            assert_eq!(err, PasswordError::Validation(message.to_owned()));
            assert_eq!(err.exception(), "ValidationException");
        }

        let long_exclude = "x".repeat(4097);
        let both = PasswordOptions {
            password_length: 0,
            exclude_characters: long_exclude.clone(),
            ..PasswordOptions::default()
        };
        assert_eq!(
            gen(&both, 0).unwrap_err(),
            PasswordError::Validation(format!(
                "2 validation errors detected: Value '0' at 'passwordLength' failed to satisfy \
                 constraint: Member must have value greater than or equal to 1; Value \
                 '{long_exclude}' at 'excludeCharacters' failed to satisfy constraint: Member \
                 must have length less than or equal to 4096"
            ))
        );
        let exactly_max = PasswordOptions {
            exclude_characters: "x".repeat(4096),
            ..PasswordOptions::default()
        };
        assert!(gen(&exactly_max, 0).is_ok());
    }

    #[test]
    fn a_failing_source_is_an_internal_error() {
        let mut failing = |_: &mut [u8]| Err(RandomError);
        let err = generate(&PasswordOptions::default(), &mut failing).unwrap_err();
        assert_eq!(err, PasswordError::Random(RandomError));
        assert_eq!(err.exception(), "InternalServiceError");
    }

    #[test]
    fn rejection_sampling_skips_the_biased_tail() {
        // For n = 94, one byte covers it and 188 = 2 * 94 is the rejection zone.
        let script = [255u8, 188, 200, 187, 3];
        let mut at = 0;
        let mut source = |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                *b = script.get(at).copied().unwrap_or(0);
                at += 1;
            }
            Ok(())
        };
        let mut sampler = Sampler::new(&mut source);
        assert_eq!(sampler.below(94).unwrap(), 187 % 94);
        assert_eq!(sampler.below(94).unwrap(), 3);
        assert_eq!(sampler.below(1).unwrap(), 0);
    }

    #[test]
    fn two_byte_draws_are_uniform_over_their_range() {
        // n = 300 needs two bytes; 65536 - 65536 % 300 = 65400 is the rejection zone.
        let script = [0xffu8, 0x78, 0xff, 0x77, 0x00, 0x01];
        let mut at = 0;
        let mut source = |buf: &mut [u8]| {
            for b in buf.iter_mut() {
                *b = script.get(at).copied().unwrap_or(0);
                at += 1;
            }
            Ok(())
        };
        let mut sampler = Sampler::new(&mut source);
        // 0xff78 = 65400 is rejected, 0xff77 = 65399 is kept.
        assert_eq!(sampler.below(300).unwrap(), 65399 % 300);
        assert_eq!(sampler.below(300).unwrap(), 1);
    }

    #[test]
    fn required_characters_land_anywhere() {
        // One character per type, so every password is a permutation of "aA0!"; each
        // character must reach each position about a quarter of the time.
        let options = PasswordOptions {
            password_length: 4,
            exclude_characters: format!("{LOWERCASE}{UPPERCASE}{NUMBERS}{PUNCTUATION}")
                .chars()
                .filter(|c| !"aA0!".contains(*c))
                .collect(),
            ..PasswordOptions::default()
        };
        let mut random = xorshift(42);
        let mut counts = [[0u32; 4]; 4];
        let runs = 24_000;
        for _ in 0..runs {
            let password = generate(&options, &mut random).unwrap();
            let mut sorted: Vec<char> = password.chars().collect();
            sorted.sort_unstable();
            assert_eq!(sorted, ['!', '0', 'A', 'a']);
            for (position, c) in password.chars().enumerate() {
                let which = "aA0!".find(c).unwrap();
                counts[which][position] += 1;
            }
        }
        for row in counts {
            for count in row {
                // Expected 6000, standard deviation about 67.
                assert!((5600..6400).contains(&count), "{counts:?}");
            }
        }
    }

    #[test]
    fn same_seed_same_password() {
        let options = PasswordOptions::default();
        assert_eq!(gen(&options, 7).unwrap(), gen(&options, 7).unwrap());
        assert_ne!(gen(&options, 7).unwrap(), gen(&options, 8).unwrap());
    }

    /// What AWS answers, worked out independently of `generate`: the error, or the character
    /// types the password must draw from.
    fn oracle(options: &PasswordOptions) -> Result<Vec<String>, &'static str> {
        if !(1..=4096).contains(&options.password_length)
            || options.exclude_characters.chars().count() > 4096
        {
            return Err("ValidationException");
        }
        let mut types = Vec::new();
        for (set, on) in [
            (LOWERCASE, !options.exclude_lowercase),
            (UPPERCASE, !options.exclude_uppercase),
            (NUMBERS, !options.exclude_numbers),
            (PUNCTUATION, !options.exclude_punctuation),
            (SPACE, options.include_space),
        ] {
            let left: String = set
                .chars()
                .filter(|c| !options.exclude_characters.contains(*c))
                .collect();
            if on && !left.is_empty() {
                types.push(left);
            }
        }
        if types.is_empty() {
            return Err("InvalidParameterException");
        }
        if options.require_each_included_type && (options.password_length as usize) < types.len() {
            return Err("InvalidParameterException");
        }
        Ok(types)
    }

    fn exclude_characters() -> impl Strategy<Value = String> {
        let printable = proptest::char::range(' ', '~');
        let any = prop_oneof![
            8 => printable,
            1 => proptest::char::any(),
        ];
        prop_oneof![
            3 => Just(String::new()),
            6 => proptest::collection::vec(any, 0..40).prop_map(|v| v.into_iter().collect()),
            // Most of the printable range, so whole types disappear.
            2 => proptest::collection::vec(proptest::char::range(' ', '~'), 60..300)
                .prop_map(|v| v.into_iter().collect()),
            1 => (4090usize..4100).prop_map(|n| "~".repeat(n)),
        ]
    }

    fn options() -> impl Strategy<Value = PasswordOptions> {
        let length = prop_oneof![
            6 => 1i64..=12,
            3 => 13i64..=300,
            1 => 4090i64..=4100,
            1 => -3i64..=0,
            1 => Just(i64::MAX),
        ];
        (length, exclude_characters(), any::<[bool; 6]>()).prop_map(
            |(password_length, exclude_characters, flags)| PasswordOptions {
                password_length,
                exclude_characters,
                exclude_numbers: flags[0],
                exclude_punctuation: flags[1],
                exclude_uppercase: flags[2],
                exclude_lowercase: flags[3],
                include_space: flags[4],
                require_each_included_type: flags[5],
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn output_satisfies_the_options_or_errs_as_aws_would(
            options in options(),
            seed in any::<u64>(),
        ) {
            match (oracle(&options), gen(&options, seed)) {
                (Ok(types), Ok(password)) => {
                    prop_assert_eq!(password.chars().count() as i64, options.password_length);
                    prop_assert_eq!(password.len() as i64, options.password_length);
                    for c in password.chars() {
                        prop_assert!(
                            types.iter().any(|set| set.contains(c)),
                            "{:?} is not in any included type", c
                        );
                        prop_assert!(!options.exclude_characters.contains(c));
                    }
                    if options.require_each_included_type {
                        for set in &types {
                            prop_assert!(has_any(&password, set), "missing one of {:?}", set);
                        }
                    }
                }
                (Err(expected), Err(err)) => prop_assert_eq!(expected, err.exception()),
                (expected, got) => prop_assert!(
                    false,
                    "expected {:?}, got {:?}",
                    expected,
                    got.map(|p| p.to_string())
                ),
            }
        }
    }
}
