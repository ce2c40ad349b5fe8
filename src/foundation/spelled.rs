//! Enums whose values have one spelling each, in results and in input
//! (`met`, `missed_target`, …): [`spelled_enum!`] writes the enum, its
//! `ALL`, `as_str`, `Display` and `FromStr` from one list, so a spelling
//! stands in one place and is compared as an enum value everywhere else.

/// Declare a spelled enum:
///
/// ```text
/// spelled_enum! {
///     /// A cell's standing against its target.
///     pub enum Status {
///         /// Met.
///         Met = "met",
///         /// Missed.
///         Missed = "missed",
///     }
/// }
/// ```
macro_rules! spelled_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// How the value is written.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;

            fn from_str(s: &str) -> std::result::Result<$name, String> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| {
                        let all: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                        format!("\"{s}\" is not one of: {}", all.join(", "))
                    })
            }
        }
    };
}

pub(crate) use spelled_enum;

#[cfg(test)]
mod tests {
    spelled_enum! {
        /// A test enum.
        pub enum Light {
            /// Stop.
            Red = "red",
            /// Go.
            Green = "green_light",
        }
    }

    #[test]
    fn every_value_reads_back_as_written() {
        for v in Light::ALL {
            assert_eq!(v.as_str().parse::<Light>(), Ok(*v));
            assert_eq!(v.to_string(), v.as_str());
        }
        assert_eq!(Light::Green.as_str(), "green_light");
        assert_eq!(
            "amber".parse::<Light>(),
            Err("\"amber\" is not one of: red, green_light".to_string())
        );
    }
}
