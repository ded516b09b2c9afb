//! keystroke reconstructor (in progress)
