# A correct solution that loops over the batch only: each image's windows come from
# numpy's sliding_window_view and one tensordot per image. Conv2d keeps its kernel size
# as two ints (self.kh, self.kw) and hands stride/padding to the op unconverted.
# Max-pooling routes gradients through a one-hot mask; average pooling uses a
# summed-area table (cumulative sums). SimpleCNN is built on tinytorch's Sequential.

# %% conv_output_size
import math


def conv_output_size(size, kernel, stride=1, padding=0):
    return math.floor((size + 2 * padding - kernel) / stride) + 1

# %% receptive_field
def receptive_field(num_layers, kernel=3):
    return (kernel - 1) * num_layers + 1

# %% conv2d_op
from numpy.lib.stride_tricks import sliding_window_view as _swv


def _image_windows(img, kernel, stride):
    """One image (C, H, W) -> its windows (C, OH, OW, KH, KW)."""
    (kh, kw), (sh, sw) = kernel, stride
    return _swv(img, (kh, kw), axis=(1, 2))[:, ::sh, ::sw]


class Conv2dOp(Function):
    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride)
        self.padding = _pair(padding)

    def forward(self, x, w, b=None):
        ph, pw = self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        kernel = w.shape[2:]
        outs = []
        for img in xp:
            win = _image_windows(img, kernel, self.stride)                      # C, OH, OW, KH, KW
            outs.append(np.tensordot(w, win, axes=([1, 2, 3], [0, 3, 4])))      # F, OH, OW
        out = np.stack(outs)
        if b is not None:
            out += b[:, None, None]
        self._saved = (xp, w, b is not None)
        return out

    def backward(self, grad_out):
        xp, w, has_bias = self._saved
        (sh, sw), (ph, pw) = self.stride, self.padding
        _, _, kh, kw = w.shape
        oh, ow = grad_out.shape[2:]
        dxp = np.zeros_like(xp)
        dw = np.zeros_like(w)
        for n in range(xp.shape[0]):
            win = _image_windows(xp[n], (kh, kw), (sh, sw))                     # C, OH, OW, KH, KW
            dw += np.tensordot(grad_out[n], win, axes=([1, 2], [1, 2]))         # F, C, KH, KW
            dwin = np.tensordot(grad_out[n], w, axes=([0], [0]))                # OH, OW, C, KH, KW
            for u in range(kh):
                for v in range(kw):
                    dxp[n, :, u:u + sh * oh:sh, v:v + sw * ow:sw] += dwin[:, :, :, u, v].transpose(2, 0, 1)
        h, wd = xp.shape[2] - 2 * ph, xp.shape[3] - 2 * pw
        dx = dxp[:, :, ph:ph + h, pw:pw + wd]
        db = grad_out.sum(axis=(0, 2, 3)) if has_bias else None
        return dx, dw, db

# %% conv2d_layer
class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kh, self.kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        self.conv_stride, self.conv_padding = stride, padding
        fan_in = in_channels * self.kh * self.kw
        self.weight = Tensor(np.random.randn(out_channels, in_channels, self.kh, self.kw) / np.sqrt(fan_in / 2.0),
                             requires_grad=True)
        self.bias = Tensor(np.zeros(out_channels), requires_grad=True) if bias else None

    def forward(self, x):
        return Conv2dOp(self.conv_stride, self.conv_padding)(x, self.weight, self.bias)

# %% maxpool2d
class MaxPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant", constant_values=-np.inf)
        win = _swv(xp, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]                 # N, C, OH, OW, KH, KW
        flat = win.reshape(*win.shape[:4], kh * kw)
        first = flat.argmax(axis=-1)
        self.mask = (np.arange(kh * kw) == first[..., None]).reshape(win.shape)   # one True per window
        self.xp_shape = xp.shape
        return np.max(flat, axis=-1)

    def backward(self, grad_out):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = grad_out.shape[2:]
        routed = self.mask * grad_out[..., None, None]
        dxp = np.zeros(self.xp_shape)
        for u in range(kh):
            for v in range(kw):
                dxp[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw] += routed[:, :, :, :, u, v]
        return (dxp[:, :, ph:self.xp_shape[2] - ph, pw:self.xp_shape[3] - pw],)


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return MaxPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% avgpool2d
class AvgPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        n, c, hp, wp = xp.shape
        oh, ow = (hp - kh) // sh + 1, (wp - kw) // sw + 1
        table = np.zeros((n, c, hp + 1, wp + 1))                                # summed-area table
        table[:, :, 1:, 1:] = xp.cumsum(axis=2).cumsum(axis=3)
        r, q = np.arange(oh) * sh, np.arange(ow) * sw
        total = (table[:, :, r + kh][:, :, :, q + kw] - table[:, :, r][:, :, :, q + kw]
                 - table[:, :, r + kh][:, :, :, q] + table[:, :, r][:, :, :, q])
        self.xp_shape = xp.shape
        return total / (kh * kw)

    def backward(self, grad_out):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = grad_out.shape[2:]
        dxp = np.zeros(self.xp_shape)
        for u in range(kh):
            for v in range(kw):
                dxp[:, :, u:u + sh * oh:sh, v:v + sw * ow:sw] += grad_out / (kh * kw)
        return (dxp[:, :, ph:self.xp_shape[2] - ph, pw:self.xp_shape[3] - pw],)


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def forward(self, x):
        return AvgPool2dOp(self.kernel_size, self.stride, self.padding)(x)

# %% flatten
class Flatten(Module):
    def __init__(self, start_dim=1):
        self.start_dim = start_dim

    def forward(self, x):
        return x.reshape(x.shape[:self.start_dim] + (-1,))

# %% simplecnn
from tinytorch import Sequential


class SimpleCNN(Module):
    def __init__(self, num_classes=10, in_channels=3, image_size=32):
        self.body = Sequential(
            Conv2d(in_channels, 32, 3, padding=1), ReLU(), MaxPool2d(2),
            Conv2d(32, 64, 3, padding=1), ReLU(), MaxPool2d(2),
            Flatten(),
        )
        self.head = Linear(64 * (image_size // 4) ** 2, num_classes)

    def forward(self, x):
        return self.head(self.body(x))


def count_parameters(model):
    return sum(p.size for p in model.parameters())
