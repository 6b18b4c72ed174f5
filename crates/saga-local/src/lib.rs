//! saga-local library.
