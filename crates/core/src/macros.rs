//! Macros used inside this crate.

/// The shared impls of a string newtype whose only constructor is
/// `parse(&str) -> Result<Self, $err>`: `as_str`, `Display`, a `Deserialize`
/// that parses (so a bad payload fails while deserializing) and `FromStr`.
macro_rules! parsed_string_impls {
    ($err:ty: $($t:ty),+ $(,)?) => {$(
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $t {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $t {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                Self::parse(&s).map_err(::serde::de::Error::custom)
            }
        }

        impl ::std::str::FromStr for $t {
            type Err = $err;
            fn from_str(s: &str) -> Result<Self, $err> {
                Self::parse(s)
            }
        }
    )+};
}
