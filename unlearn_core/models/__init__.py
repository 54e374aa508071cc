"""Small models the project trains and ships, saved diffusers-style (config.json + safetensors)."""
