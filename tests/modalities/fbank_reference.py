"""A float64 numpy Kaldi fbank (16 kHz, 128 bins) and the rounding-error bound of a float32 fbank
against it, shared by the fbank and audio tests."""
import numpy as np

SR = 16000


def kaldi_mel(f):
    return 1127.0 * np.log(1.0 + f / 700.0)


def kaldi_mel_banks(num_bins=128, nfft=512, sr=SR, low=20.0):
    """Kaldi MelBanks: triangles in mel space between low and Nyquist; the Nyquist bin unused."""
    mel_low, mel_high = kaldi_mel(low), kaldi_mel(sr / 2)
    delta = (mel_high - mel_low) / (num_bins + 1)
    banks = np.zeros((num_bins, nfft // 2 + 1))
    for m in range(num_bins):
        left, centre, right = mel_low + m * delta, mel_low + (m + 1) * delta, mel_low + (m + 2) * delta
        for k in range(nfft // 2):
            mel = kaldi_mel(k * sr / nfft)
            if left < mel < right:
                banks[m, k] = (mel - left) / (centre - left) if mel <= centre else (right - mel) / (right - centre)
    return banks


def numpy_power(x):
    """(frames, 257) power spectra: 25 ms frames every 10 ms, DC removal, pre-emphasis 0.97, Hann,
    |rfft(512)|^2."""
    x = np.asarray(x, np.float64)
    size, shift, nfft = 400, 160, 512
    n = np.arange(size)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / (size - 1))
    frames = []
    for start in range(0, len(x) - size + 1, shift):
        frame = x[start:start + size] - x[start:start + size].mean()
        emphasised = np.empty_like(frame)
        emphasised[0] = frame[0] - 0.97 * frame[0]
        emphasised[1:] = frame[1:] - 0.97 * frame[:-1]
        frames.append(np.abs(np.fft.rfft(emphasised * window, n=nfft)) ** 2)
    return np.array(frames)


def numpy_fbank(x, num_bins=128):
    """The power spectra through Kaldi's mel banks, then log(max(energy, float32 eps))."""
    return np.log(np.maximum(numpy_power(x) @ kaldi_mel_banks(num_bins).T, np.finfo(np.float32).eps))


# Rounding-error model of the fbank, in units of the unit roundoff u of the computation dtype.
# FRAME_C bounds ||dX|| / (u sqrt(N) ||frame||), the norm-wise error of the frame's DFT X relative
# to the raw frame: ~12 u before the FFT (cast, DC removal, pre-emphasis whose gain is <= 1.97,
# window) plus ~2 u for each of the log2(512) = 9 butterfly stages of a power-of-two FFT (Higham,
# Accuracy and Stability of Numerical Algorithms, sec. 24.1). Observed on MKL's Intel and generic
# (MKL_CBWR=COMPATIBLE, the path taken on AMD) code paths: at most 1.5.
FRAME_C = 32.0
# MEL_TERMS: the mel product sums <= 257 non-negative terms (recursive-summation bound 257 u),
# |X|^2 and the float32 cast of the weights add 3 u.
MEL_TERMS = 260
# BANK_ABS: absolute error of one mel weight, in float64 ulps, whatever the computation dtype (the
# banks are built in float64 on both sides): a weight is (mel - edge) / delta with mel values up to
# 2840 that carry <= ~7000 u (1127 ln(1 + f/700), 1 + f/700 rounded) and delta = 21.8, so
# <= 4 * 7000 / 21.8 ~ 1300 u per side, 2600 u between two implementations. Observed: 283 u.
BANK_ABS = 2600


def fbank_error_bound(x, unit_roundoff):
    """Per (frame, bin) bound on |log E_computed - log E_exact| between a fbank computed with this
    unit roundoff and the float64 reference ``numpy_fbank(x)`` (128 bins, 16 kHz).

    The DFT error is bounded in norm, not per bin: ||dX|| <= r0 = C u sqrt(N) ||frame||. A mel
    energy E = sum_k w_k |X_k|^2 with 0 <= w_k <= 1 then moves by at most 2 sqrt(E) r0 + r0^2
    (Cauchy-Schwarz), so its relative error is rho = 2 r + r^2 + MEL_TERMS u + (weight errors) with
    r = r0 / sqrt(E): tiny for a loud bin, large for a bin far below its frame's power (the log is
    ill conditioned there). log(1 + rho) bounds an upward move, -log(1 - rho) a downward one; a
    downward move cannot go below the clamp floor, so near the floor log(E / floor) bounds it.
    """
    size, shift, nfft = 400, 160, 512
    frames = np.lib.stride_tricks.sliding_window_view(np.asarray(x, np.float64), size)[::shift]
    r0 = FRAME_C * unit_roundoff * np.sqrt(nfft) * np.linalg.norm(frames, axis=1, keepdims=True)
    power, banks = numpy_power(x), kaldi_mel_banks(128)
    floor = float(np.finfo(np.float32).eps)
    energy = np.maximum(power @ banks.T, floor)
    weight_error = BANK_ABS * float(np.finfo(np.float64).eps) / 2 * (power @ (banks > 0).T)
    r = r0 / np.sqrt(energy)
    rho = 2 * r + r * r + MEL_TERMS * unit_roundoff + weight_error / energy
    down = np.where(rho < 1, -np.log1p(-np.minimum(rho, 0.5)), np.inf)
    down = np.minimum(down, np.log(energy / floor) + 1e-12)
    log_rounding = 4 * unit_roundoff * np.abs(np.log(energy))  # rounding of the log itself
    return np.maximum(np.log1p(rho), down) + log_rounding
