//! TFLite reference integer kernels for the non-MAC ops of a whole model.
