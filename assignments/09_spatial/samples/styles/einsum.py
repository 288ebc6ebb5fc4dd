# A correct solution built on np.einsum over an as_strided window view (written by hand,
# shared by convolution and pooling); col2im loops over kernel offsets only. SimpleCNN
# keeps its feature extractor in a plain Python list and names its classifier differently.

# %% conv_output_size
def conv_output_size(size, kernel, stride=1, padding=0):
    span = size + 2 * padding - kernel
    return span // stride + 1

# %% receptive_field
def receptive_field(num_layers, kernel=3):
    if num_layers == 0:
        return 1
    return kernel + (num_layers - 1) * (kernel - 1)

# %% conv2d_op
from numpy.lib.stride_tricks import as_strided


def _patches(a, kh, kw, sh, sw):
    """(N, C, H, W) -> read-only (N, C, OH, OW, KH, KW) view of every window."""
    a = np.ascontiguousarray(a)
    n, c, h, w = a.shape
    oh, ow = (h - kh) // sh + 1, (w - kw) // sw + 1
    s0, s1, s2, s3 = a.strides
    return as_strided(a, shape=(n, c, oh, ow, kh, kw),
                      strides=(s0, s1, s2 * sh, s3 * sw, s2, s3), writeable=False)


class Conv2dOp(Function):
    def __init__(self, stride=1, padding=0):
        self.stride = _pair(stride)
        self.padding = _pair(padding)

    def forward(self, x, w, b=None):
        sh, sw = self.stride
        ph, pw = self.padding
        xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)], mode="constant")
        kh, kw = w.shape[2:]
        patches = _patches(xp, kh, kw, sh, sw)
        out = np.einsum("nchwij,fcij->nfhw", patches, w, optimize=True)
        if b is not None:
            out = out + b[None, :, None, None]
        self.cache = (xp, w, b is not None)
        return out

    def backward(self, grad_out):
        xp, w, has_bias = self.cache
        sh, sw = self.stride
        ph, pw = self.padding
        kh, kw = w.shape[2:]
        patches = _patches(xp, kh, kw, sh, sw)
        oh, ow = grad_out.shape[2:]
        dw = np.einsum("nfhw,nchwij->fcij", grad_out, patches, optimize=True)
        dpatches = np.einsum("nfhw,fcij->nchwij", grad_out, w, optimize=True)
        dxp = np.zeros(xp.shape, dtype=dpatches.dtype)
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += dpatches[..., i, j]
        dx = dxp[:, :, ph:xp.shape[2] - ph, pw:xp.shape[3] - pw]
        db = grad_out.sum(axis=(0, 2, 3)) if has_bias else None
        return dx, dw, db

# %% conv2d_layer
class Conv2d(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, bias=True):
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = _pair(kernel_size), _pair(stride), _pair(padding)
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        shape = (out_channels, in_channels) + self.kernel_size
        self.weight = Tensor(np.random.normal(loc=0.0, scale=np.sqrt(2 / fan_in), size=shape), requires_grad=True)
        self.bias = None
        if bias:
            self.bias = Tensor(np.zeros(out_channels), requires_grad=True)

    def forward(self, x):
        return Conv2dOp(stride=self.stride, padding=self.padding)(x, self.weight, self.bias)

# %% maxpool2d
class MaxPool2dOp(Function):
    def __init__(self, kernel_size, stride=None, padding=0):
        self.kernel = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel
        self.padding = _pair(padding)

    def forward(self, x):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)], constant_values=-np.inf)
        patches = _patches(xp, kh, kw, sh, sw)
        flat = patches.reshape(patches.shape[:4] + (kh * kw,))
        self.choice = flat.argmax(axis=-1)
        self.xp_shape = xp.shape
        return flat.max(axis=-1)

    def backward(self, grad_out):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = grad_out.shape[2:]
        onehot = np.eye(kh * kw, dtype=grad_out.dtype)[self.choice]       # (N, C, OH, OW, KH*KW)
        spread = (onehot * grad_out[..., None]).reshape(grad_out.shape + (kh, kw))
        dxp = np.zeros(self.xp_shape, dtype=grad_out.dtype)
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += spread[..., i, j]
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
        xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
        self.xp_shape = xp.shape
        return _patches(xp, kh, kw, sh, sw).mean(axis=(4, 5))

    def backward(self, grad_out):
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        oh, ow = grad_out.shape[2:]
        share = grad_out / (kh * kw)
        dxp = np.zeros(self.xp_shape, dtype=grad_out.dtype)
        for i in range(kh):
            for j in range(kw):
                dxp[:, :, i:i + sh * oh:sh, j:j + sw * ow:sw] += share
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
        lead = x.shape[:self.start_dim]
        return x.reshape(*lead, -1)

# %% simplecnn
class SimpleCNN(Module):
    def __init__(self, num_classes=10, in_channels=3, image_size=32):
        self.features = [
            Conv2d(in_channels, 32, 3, padding=1), ReLU(), MaxPool2d(2),
            Conv2d(32, 64, 3, padding=1), ReLU(), MaxPool2d(2),
        ]
        self.flatten = Flatten()
        self.classifier = Linear(64 * (image_size // 4) * (image_size // 4), num_classes)

    def forward(self, x):
        for layer in self.features:
            x = layer(x)
        return self.classifier(self.flatten(x))


def count_parameters(model):
    return sum(int(np.prod(p.data.shape)) for p in model.parameters())
