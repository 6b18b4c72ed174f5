//! Order saga domain (work in progress).
