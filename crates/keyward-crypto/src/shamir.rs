//! Shamir's secret sharing over GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1), byte by
//! byte: each byte of the secret is the constant term of its own random polynomial of
//! degree `threshold - 1`, and share `i` holds every polynomial's value at x = i. Any
//! `threshold` shares give the secret back by Lagrange interpolation at x = 0; fewer give
//! no information about it.
//!
//! Field arithmetic is branch-free and uses no tables, so its timing does not depend on
//! the bytes of a share.

use zeroize::Zeroizing;

use crate::CryptoError;

/// One share: its x coordinate (1–255) and the polynomials' values there.
pub struct Share {
    pub index: u8,
    pub value: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Share {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Share")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

fn mul(mut a: u8, mut b: u8) -> u8 {
    let mut product = 0u8;
    for _ in 0..8 {
        product ^= a & 0u8.wrapping_sub(b & 1);
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    product
}

/// a^254 = a^-1 for a ≠ 0 (and 0 for 0).
fn inverse(a: u8) -> u8 {
    let mut result = 1u8;
    let mut base = a;
    let mut exponent = 254u8;
    while exponent > 0 {
        if exponent & 1 == 1 {
            result = mul(result, base);
        }
        base = mul(base, base);
        exponent >>= 1;
    }
    result
}

/// Splits `secret` into `shares` shares of which any `threshold` recover it
/// (2 ≤ threshold ≤ shares ≤ 255).
pub fn split(secret: &[u8], threshold: u8, shares: u8) -> Result<Vec<Share>, CryptoError> {
    if threshold < 2 || shares < threshold || secret.is_empty() {
        return Err(CryptoError::InvalidKey);
    }
    let degree = usize::from(threshold) - 1;
    // The random coefficients of every byte's polynomial, degree-many per byte.
    let coefficients = crate::random_bytes(secret.len() * degree)?;
    let mut out = Vec::with_capacity(usize::from(shares));
    for index in 1..=shares {
        let mut value = Zeroizing::new(Vec::with_capacity(secret.len()));
        for (position, byte) in secret.iter().enumerate() {
            let coeffs = &coefficients[position * degree..(position + 1) * degree];
            // Horner's rule from the highest coefficient down to the secret byte.
            let mut y = 0u8;
            for c in coeffs.iter().rev() {
                y = mul(y, index) ^ c;
            }
            value.push(mul(y, index) ^ byte);
        }
        out.push(Share { index, value });
    }
    Ok(out)
}

/// Recovers the secret from shares with distinct nonzero indexes and equal lengths. With
/// fewer shares than the threshold, or a wrong share, the result is some other value: the
/// caller must check it (the root key's seal does).
pub fn combine(shares: &[Share]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(first) = shares.first() else {
        return Err(CryptoError::InvalidKey);
    };
    let len = first.value.len();
    for (i, share) in shares.iter().enumerate() {
        if share.index == 0
            || share.value.len() != len
            || shares[..i].iter().any(|s| s.index == share.index)
        {
            return Err(CryptoError::InvalidKey);
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len]);
    for (i, share) in shares.iter().enumerate() {
        // The Lagrange basis polynomial of share i at x = 0: Π x_j / (x_j - x_i), j ≠ i;
        // subtraction is XOR in this field.
        let mut numerator = 1u8;
        let mut denominator = 1u8;
        for (j, other) in shares.iter().enumerate() {
            if i != j {
                numerator = mul(numerator, other.index);
                denominator = mul(denominator, other.index ^ share.index);
            }
        }
        let basis = mul(numerator, inverse(denominator));
        for (out, y) in secret.iter_mut().zip(share.value.iter()) {
            *out ^= mul(*y, basis);
        }
    }
    Ok(secret)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn field_arithmetic_matches_the_aes_field() {
        // FIPS 197 §4.2: {57} • {83} = {c1}; {57} • {13} = {fe}.
        assert_eq!(mul(0x57, 0x83), 0xc1);
        assert_eq!(mul(0x57, 0x13), 0xfe);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inverse(a)), 1, "{a}");
            assert_eq!(mul(a, 0), 0);
            assert_eq!(mul(a, 1), a);
        }
    }

    fn pick(shares: &[Share], which: &[usize]) -> Vec<Share> {
        which
            .iter()
            .map(|&i| Share {
                index: shares[i].index,
                value: shares[i].value.clone(),
            })
            .collect()
    }

    #[test]
    fn any_threshold_subset_recovers_and_fewer_do_not() {
        let secret: Vec<u8> = (0..32u8).map(|b| b.wrapping_mul(37)).collect();
        let shares = split(&secret, 3, 5).unwrap();
        assert_eq!(shares.len(), 5);
        for a in 0..5 {
            for b in 0..5 {
                for c in 0..5 {
                    if a == b || b == c || a == c {
                        continue;
                    }
                    let got = combine(&pick(&shares, &[a, b, c])).unwrap();
                    assert_eq!(got.as_slice(), secret.as_slice());
                }
            }
        }
        let all = combine(&pick(&shares, &[0, 1, 2, 3, 4])).unwrap();
        assert_eq!(all.as_slice(), secret.as_slice());
        let two = combine(&pick(&shares, &[0, 1])).unwrap();
        assert_ne!(two.as_slice(), secret.as_slice());
        // A share altered in one byte changes that byte of the result.
        let mut bad = pick(&shares, &[0, 1, 2]);
        bad[1].value[4] ^= 1;
        assert_ne!(combine(&bad).unwrap().as_slice(), secret.as_slice());
    }

    #[test]
    fn bad_parameters_and_share_sets_are_refused() {
        assert!(split(b"s", 1, 5).is_err());
        assert!(split(b"s", 4, 3).is_err());
        assert!(split(b"", 2, 3).is_err());
        assert!(split(b"s", 255, 255).is_ok());
        let shares = split(&[5u8; 32], 2, 3).unwrap();
        assert!(combine(&[]).is_err());
        assert!(combine(&pick(&shares, &[0, 0])).is_err());
        let mut short = pick(&shares, &[0, 1]);
        short[1].value.pop();
        assert!(combine(&short).is_err());
        let mut zero = pick(&shares, &[0, 1]);
        zero[0].index = 0;
        assert!(combine(&zero).is_err());
        assert!(!format!("{:?}", shares[0]).contains("value"));
    }
}
