"""Product Directory: versioned product definitions, charges and bundles; publishes finpace.product.> events."""
